package sfu

import (
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Samples of one 100 ms interval: five 20 ms Opus packets.
func voice(level uint8) levelSample {
	return levelSample{packets: 5, voiced: 5, loudness: 5 * uint32(127-level)}
}

var (
	quiet   = levelSample{packets: 5}
	nothing = levelSample{}
)

// emission is an event the detector returned at ms milliseconds.
type emission struct {
	ms       int
	speakers []string
	active   string
}

// pattern gives a participant's sample for the interval ending at ms; ok
// false means the participant is not in the room.
type pattern func(ms int) (s levelSample, ok bool)

func always(s levelSample) pattern { return func(int) (levelSample, bool) { return s, true } }

// from returns a before ms (exclusive) and b from then on.
func from(at int, a, b levelSample) pattern {
	return func(ms int) (levelSample, bool) {
		if ms < at {
			return a, true
		}
		return b, true
	}
}

// runDetector ticks a detector every 100 ms from 100 to end ms.
func runDetector(end int, peers map[string]pattern) []emission {
	d := newSpeakerDetector(defaultSpeakerConfig())
	start := time.Unix(1000, 0)
	var out []emission
	for ms := 100; ms <= end; ms += 100 {
		samples := map[string]levelSample{}
		for id, p := range peers {
			if s, ok := p(ms); ok {
				samples[id] = s
			}
		}
		if ev, ok := d.update(start.Add(time.Duration(ms)*time.Millisecond), samples); ok {
			out = append(out, emission{ms, ev.Speakers, ev.Active})
		}
	}
	return out
}

func TestSpeakerDetector(t *testing.T) {
	tests := []struct {
		name  string
		end   int
		peers map[string]pattern
		want  []emission
	}{
		{
			name:  "silence says nothing",
			end:   3000,
			peers: map[string]pattern{"A": always(quiet), "B": always(nothing)},
		},
		{
			name:  "speech is noticed after 200 ms",
			end:   3000,
			peers: map[string]pattern{"A": from(1100, quiet, voice(30)), "B": always(quiet)},
			want:  []emission{{1200, []string{"A"}, "A"}},
		},
		{
			name:  "a newcomer speaking at once is noticed at once",
			end:   1000,
			peers: map[string]pattern{"A": always(voice(30))},
			want:  []emission{{100, []string{"A"}, "A"}},
		},
		{
			name:  "silence is noticed after 400 ms",
			end:   3000,
			peers: map[string]pattern{"A": from(2100, voice(30), quiet), "B": always(quiet)},
			want:  []emission{{100, []string{"A"}, "A"}, {2400, []string{}, ""}},
		},
		{
			name:  "no packets at all is silence",
			end:   3000,
			peers: map[string]pattern{"A": from(1100, voice(30), nothing)},
			want:  []emission{{100, []string{"A"}, "A"}, {1400, []string{}, ""}},
		},
		{
			name: "a cough is not speech",
			end:  3000,
			peers: map[string]pattern{"A": func(ms int) (levelSample, bool) {
				if ms == 1100 {
					return voice(10), true
				}
				return quiet, true
			}},
		},
		{
			name: "a pause between words does not end the turn",
			end:  3000,
			peers: map[string]pattern{"A": func(ms int) (levelSample, bool) {
				if ms == 1500 || ms == 1600 {
					return quiet, true
				}
				return voice(30), true
			}},
			want: []emission{{100, []string{"A"}, "A"}},
		},
		{
			// B is louder from 1300 on (window score 0.75*117 > 77), and
			// takes the floor 500 ms later.
			name:  "a louder speaker takes over only after staying louder",
			end:   3000,
			peers: map[string]pattern{"A": always(voice(50)), "B": from(1100, quiet, voice(10))},
			want: []emission{
				{100, []string{"A"}, "A"},
				{1200, []string{"A", "B"}, "A"},
				{1800, []string{"B", "A"}, "B"},
			},
		},
		{
			// Each is the louder for 300 ms in turn: never long enough.
			name: "two speakers alternating do not make the active one flap",
			end:  6000,
			peers: map[string]pattern{
				"A": func(ms int) (levelSample, bool) {
					if (ms/300)%2 == 0 {
						return voice(10), true
					}
					return voice(40), true
				},
				"B": func(ms int) (levelSample, bool) {
					if (ms/300)%2 == 0 {
						return voice(40), true
					}
					return voice(10), true
				},
			},
			want: []emission{{100, []string{"A", "B"}, "A"}},
		},
		{
			name:  "a speaker who stops hands over at once",
			end:   3000,
			peers: map[string]pattern{"A": from(1100, voice(10), quiet), "B": from(500, quiet, voice(40))},
			want: []emission{
				{100, []string{"A"}, "A"},
				{600, []string{"A", "B"}, "A"},
				{1400, []string{"B"}, "B"},
			},
		},
		{
			// B starts 100 ms after A was announced: held back until 300 ms
			// have passed.
			name:  "at most one event per 300 ms",
			end:   1000,
			peers: map[string]pattern{"A": always(voice(30)), "B": from(200, quiet, voice(30))},
			want:  []emission{{100, []string{"A"}, "A"}, {400, []string{"A", "B"}, "A"}},
		},
		{
			// B joins speaking and leaves while events are held back: by
			// the time one may be sent nothing changed, so none is.
			name: "a change undone within the hold-back is not sent",
			end:  2000,
			peers: map[string]pattern{
				"A": always(voice(30)),
				"B": func(ms int) (levelSample, bool) { return voice(30), ms == 200 },
			},
			want: []emission{{100, []string{"A"}, "A"}},
		},
		{
			name: "a speaker who leaves is dropped",
			end:  2000,
			peers: map[string]pattern{"A": func(ms int) (levelSample, bool) {
				return voice(30), ms < 1000
			}},
			want: []emission{{100, []string{"A"}, "A"}, {1000, []string{}, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runDetector(tt.end, tt.peers)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("emissions:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestSpeakerDetectorRateLimit drives the detector with random speech
// from five people and checks the two promises about events: at most one
// per 300 ms, and each one a change.
func TestSpeakerDetectorRateLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := newSpeakerDetector(defaultSpeakerConfig())
	ids := []string{"A", "B", "C", "D", "E"}
	talking := map[string]bool{}
	start := time.Unix(1000, 0)
	var last ActiveSpeakers
	var lastAt time.Time
	events := 0
	for i := 1; i <= 3000; i++ {
		now := start.Add(time.Duration(i) * speakerInterval)
		samples := map[string]levelSample{}
		for _, id := range ids {
			if rng.IntN(8) == 0 {
				talking[id] = !talking[id]
			}
			s := quiet
			if talking[id] {
				s = voice(uint8(5 + rng.IntN(40)))
			}
			samples[id] = s
		}
		ev, ok := d.update(now, samples)
		if !ok {
			continue
		}
		events++
		if !lastAt.IsZero() && now.Sub(lastAt) < 300*time.Millisecond {
			t.Fatalf("events %v apart", now.Sub(lastAt))
		}
		if ev.Active == last.Active && sameSet(ev.Speakers, last.Speakers) {
			t.Fatalf("event %+v repeats the previous one", ev)
		}
		if ev.Active != "" && !slices.Contains(ev.Speakers, ev.Active) {
			t.Fatalf("active %q is not among the speakers %v", ev.Active, ev.Speakers)
		}
		last, lastAt = ev, now
	}
	if events < 50 {
		t.Fatalf("only %d events in 5 minutes of busy talk", events)
	}
}

// audioHeader is an RTP header carrying an audio level extension.
func audioHeader(t testing.TB, id uint8, level uint8, voice bool) *pionrtp.Header {
	h := &pionrtp.Header{Version: 2}
	b := level
	if voice {
		b |= 0x80
	}
	if err := h.SetExtension(id, []byte{b}); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAudioLevels(t *testing.T) {
	exts := []webrtc.RTPHeaderExtensionParameter{{URI: "urn:ietf:params:rtp-hdrext:sdes:mid", ID: 1}, {URI: sdp.AudioLevelURI, ID: 3}}
	type packet struct {
		level uint8
		voice bool
	}
	tests := []struct {
		name    string
		exts    []webrtc.RTPHeaderExtensionParameter
		packets []packet
		want    levelSample
	}{
		{"not negotiated", nil, []packet{{10, true}}, levelSample{}},
		{"loud with voice", exts, []packet{{10, true}, {20, true}}, levelSample{2, 2, 117 + 107}},
		{"quiet", exts, []packet{{voiceLevel + 1, true}, {127, false}}, levelSample{2, 0, 0}},
		{"at the threshold is voice", exts, []packet{{voiceLevel, true}}, levelSample{1, 1, 127 - voiceLevel}},
		{"no V flag yet: level decides", exts, []packet{{10, false}}, levelSample{1, 1, 117}},
		{"once V was seen it is trusted", exts, []packet{{10, true}, {10, false}}, levelSample{2, 1, 117}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a audioLevels
			a.setExtension(tt.exts)
			for _, p := range tt.packets {
				a.observe(audioHeader(t, 3, p.level, p.voice))
			}
			a.observe(&pionrtp.Header{Version: 2}) // no extension: ignored
			if got := a.take(); got != tt.want {
				t.Errorf("take() = %+v, want %+v", got, tt.want)
			}
			if got := a.take(); got != (levelSample{}) {
				t.Errorf("second take() = %+v, want nothing", got)
			}
		})
	}
}

var opus = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}

// TestAudioForwardCountsLevelsWithoutAllocating forwards Opus packets with
// an audio level to ten subscribers.
func TestAudioForwardCountsLevelsWithoutAllocating(t *testing.T) {
	up := newUpTrack(upTrackParams{
		id: "TR_audio", publisherID: "PA_pub", kind: webrtc.RTPCodecTypeAudio, codec: opus,
		cacheSize: 128, keyframeEvery: time.Second, sendPLI: func(uint32) {},
		now: time.Now, metrics: NewMetrics(nil),
	})
	up.setAudioLevelExt([]webrtc.RTPHeaderExtensionParameter{{URI: sdp.AudioLevelURI, ID: 1}})
	l, _ := up.addLayer(0, "", 5678)
	w := &discard{}
	for i := 0; i < 10; i++ {
		d := newDownTrack(up, up.metrics)
		if _, err := d.Bind(&fakeContext{ssrc: webrtc.SSRC(100 + i), codecs: []webrtc.RTPCodecParameters{opus}, w: w}); err != nil {
			t.Fatal(err)
		}
		up.addDownTrack(d)
	}
	p := pionrtp.Packet{Header: *audioHeader(t, 1, 20, true), Payload: make([]byte, 60)}
	p.SSRC, p.PayloadType = 5678, 111
	pkt, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var hdr inPacket
	seq := uint16(0)
	send := func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:4], seq)
		binary.BigEndian.PutUint32(pkt[4:8], uint32(seq)*960)
		up.forward(l, pkt, &hdr, false)
	}
	send()
	if got := up.levels.take(); got != (levelSample{1, 1, 107}) {
		t.Fatalf("levels after one packet = %+v", got)
	}
	if w.packets != 10 {
		t.Fatalf("forwarded %d packets, want 10", w.packets)
	}
	if allocs := testing.AllocsPerRun(1000, send); allocs != 0 {
		t.Fatalf("forwarding one audio packet to 10 subscribers allocates %v times", allocs)
	}
}
