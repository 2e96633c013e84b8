package sfu

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// Active speaker detection from the audio level header extension
// (RFC 6464, https://www.rfc-editor.org/rfc/rfc6464).
//
// An audio UpTrack's reader adds each packet's level to an audioLevels
// accumulator, lock-free. Every speakerInterval the room takes what its
// members' tracks gathered and hands it to its speakerDetector, which is
// pure logic: it is given the time and returns what to tell the clients.

// voiceLevel is the quietest level, in -dBov, that counts as voice.
// Speech close to a microphone is typically -20 to -40 dBov; background
// noise that passes the browser's noise suppression is below -50.
const voiceLevel = 50

// speakerInterval is how often a room samples its audio levels.
const speakerInterval = 100 * time.Millisecond

// levelSample is what one participant's audio tracks sent during one
// interval.
type levelSample struct {
	packets  uint32 // packets that carried a level
	voiced   uint32 // of those, packets with voice
	loudness uint32 // sum over voiced packets of 127 - level
}

func (s levelSample) add(o levelSample) levelSample {
	return levelSample{s.packets + o.packets, s.voiced + o.voiced, s.loudness + o.loudness}
}

// audioLevels accumulates the levels of one track's packets between two
// samples. It is written by the track's reader and taken by the room's
// speaker loop, without a lock.
type audioLevels struct {
	extID atomic.Uint32 // the negotiated extension ID; 0 until known
	// vad is set once a packet had the V (voice activity) flag: from then on
	// the flag is trusted. Publishers that never set it (the flag is
	// optional) are judged by level alone.
	vad atomic.Bool
	// acc packs a levelSample into one word, so that observe is a single
	// atomic add and take a single swap: packets in bits 48-63, voiced in
	// 32-47, loudness in 0-31. At 50 packets a second nothing overflows
	// between two samples.
	acc atomic.Uint64
}

// setExtension records the ID the publisher negotiated for the audio level
// extension, if it is among exts.
func (a *audioLevels) setExtension(exts []webrtc.RTPHeaderExtensionParameter) {
	for _, e := range exts {
		if e.URI == sdp.AudioLevelURI && e.ID > 0 && e.ID < 256 {
			a.extID.Store(uint32(e.ID))
		}
	}
}

// observe adds the level carried by a packet's header, if any. It runs on
// the hot path: no allocation, no lock.
func (a *audioLevels) observe(h *pionrtp.Header) {
	id := a.extID.Load()
	if id == 0 {
		return
	}
	level, voice, ok := rtp.AudioLevel(h.GetExtension(uint8(id)))
	if !ok {
		return
	}
	if voice && !a.vad.Load() {
		a.vad.Store(true)
	}
	add := uint64(1) << 48
	if level <= voiceLevel && (voice || !a.vad.Load()) {
		add |= 1<<32 | uint64(127-level)
	}
	a.acc.Add(add)
}

// take returns what was observed since the previous take.
func (a *audioLevels) take() levelSample {
	v := a.acc.Swap(0)
	return levelSample{packets: uint32(v >> 48), voiced: uint32(v>>32) & 0xffff, loudness: uint32(v)}
}

// speakerConfig tunes the detector. Durations are measured on the times
// passed to update.
type speakerConfig struct {
	// Window is the stretch of recent audio speaking is judged on.
	Window time.Duration
	// A participant starts speaking when at least StartRatio of its packets
	// in the window had voice, and stops when fewer than StopRatio had. The
	// gap keeps the pauses between words from ending a turn.
	StartRatio, StopRatio float64
	// SwitchAfter is how long another speaker must stay the loudest before
	// it takes over as the active speaker.
	SwitchAfter time.Duration
	// EmitEvery is the minimum time between two events.
	EmitEvery time.Duration
}

// defaultSpeakerConfig reacts within about 200 ms to speech and 400 ms to
// silence, and tells clients at most every 300 ms.
func defaultSpeakerConfig() speakerConfig {
	return speakerConfig{
		Window:      400 * time.Millisecond,
		StartRatio:  0.5,
		StopRatio:   0.2,
		SwitchAfter: 500 * time.Millisecond,
		EmitEvery:   300 * time.Millisecond,
	}
}

// speakerDetector decides, from the levels of a room's participants, who is
// speaking and who the active speaker is. It is used by one goroutine.
type speakerDetector struct {
	cfg   speakerConfig
	peers map[string]*speakerState

	active       string // the active speaker, "" for none
	challenger   string // the loudest speaker when it is not the active one
	challengedAt time.Time

	sent   ActiveSpeakers // the last event returned
	sentAt time.Time
}

type speakerState struct {
	history  []timedSample // oldest first, within the window
	speaking bool
	score    float64 // loudness per packet over the window, 0 to 127
}

type timedSample struct {
	at time.Time
	levelSample
}

func newSpeakerDetector(cfg speakerConfig) *speakerDetector {
	return &speakerDetector{cfg: cfg, peers: make(map[string]*speakerState)}
}

// update takes one sample per participant, gathered since the previous
// update; a participant missing from samples has left and is forgotten.
// It returns the event to send to the room and whether to send it: only
// when the speakers or the active speaker changed, and not within
// EmitEvery of the previous event (a change held back is sent by a later
// update, if it still stands).
func (d *speakerDetector) update(now time.Time, samples map[string]levelSample) (ActiveSpeakers, bool) {
	for id := range d.peers {
		if _, ok := samples[id]; !ok {
			delete(d.peers, id)
		}
	}
	var speakers []string
	for id, s := range samples {
		st := d.peers[id]
		if st == nil {
			st = &speakerState{}
			d.peers[id] = st
		}
		st.observe(now, s, d.cfg)
		if st.speaking {
			speakers = append(speakers, id)
		}
	}
	slices.SortFunc(speakers, func(a, b string) int {
		if sa, sb := d.peers[a].score, d.peers[b].score; sa != sb {
			if sa > sb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	d.choose(now, speakers)

	if d.active == d.sent.Active && sameSet(speakers, d.sent.Speakers) {
		return ActiveSpeakers{}, false
	}
	if !d.sentAt.IsZero() && now.Sub(d.sentAt) < d.cfg.EmitEvery {
		return ActiveSpeakers{}, false
	}
	if speakers == nil {
		speakers = []string{}
	}
	d.sent = ActiveSpeakers{Speakers: speakers, Active: d.active}
	d.sentAt = now
	return d.sent, true
}

// choose updates the active speaker from the speakers, loudest first. A
// speaker takes over at once when nobody is active; otherwise only after
// being the loudest for SwitchAfter, so two people talking at once do not
// make the active speaker flap.
func (d *speakerDetector) choose(now time.Time, speakers []string) {
	switch {
	case len(speakers) == 0:
		d.active, d.challenger = "", ""
	case !slices.Contains(speakers, d.active):
		d.active, d.challenger = speakers[0], ""
	case speakers[0] == d.active:
		d.challenger = ""
	case speakers[0] != d.challenger:
		d.challenger, d.challengedAt = speakers[0], now
	case now.Sub(d.challengedAt) >= d.cfg.SwitchAfter:
		d.active, d.challenger = d.challenger, ""
	}
}

// observe adds a sample and judges the window it completes.
func (st *speakerState) observe(now time.Time, s levelSample, cfg speakerConfig) {
	st.history = append(st.history, timedSample{now, s})
	old := 0
	for old < len(st.history) && now.Sub(st.history[old].at) >= cfg.Window {
		old++
	}
	st.history = append(st.history[:0], st.history[old:]...)

	var sum levelSample
	for _, h := range st.history {
		sum = sum.add(h.levelSample)
	}
	if sum.packets == 0 {
		st.speaking, st.score = false, 0
		return
	}
	ratio := float64(sum.voiced) / float64(sum.packets)
	if st.speaking {
		st.speaking = ratio >= cfg.StopRatio
	} else {
		st.speaking = ratio >= cfg.StartRatio
	}
	st.score = float64(sum.loudness) / float64(sum.packets)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
