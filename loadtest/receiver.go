package loadtest

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// TrackCounts is what one remote track delivered.
type TrackCounts struct {
	ParticipantID string
	Kind          string
	Codec         string
	Packets       int // every packet read, duplicates included
	Unique        int // distinct sequence numbers
	Duplicates    int
	Missing       int // holes between the first and the highest sequence number
	// Unrepaired counts holes more than SettleWindow packets behind the
	// highest: losses that retransmission had ample time to repair.
	Unrepaired    int
	Frames        int // packets with the marker bit (video: frames)
	LastFrameSize int // payload bytes of the newest frame played out whole (VP8 descriptor included)
	Keyframes     int
	Bytes         int
	// LongestGap is the longest freeze a decoder would show: the longest
	// time between two frames it could display, each complete and played
	// in order; after a frame that lost a packet for good (Unrepaired),
	// only from the next keyframe on.
	LongestGap time.Duration
	// Freezes counts the gaps over FreezeGap between two displayed
	// frames of a track that was flowing.
	Freezes int
	// LongestPacketGap is the longest time between the arrivals of two
	// successive new packets (audio: the longest pause), LongestFrameGap
	// between those of two frames' last packets (video: the longest pause
	// in the frames received, whether or not a decoder could show them);
	// each in arrival order, and when each began. LastFrame is when the
	// newest frame's last packet arrived.
	LongestPacketGap, LongestFrameGap     time.Duration
	LongestPacketGapAt, LongestFrameGapAt time.Time
	LastFrame                             time.Time
	// Jitter is the interarrival jitter (RFC 3550, 6.4.1).
	Jitter      time.Duration
	First, Last time.Time
	// FirstKeyframe is when the first keyframe a decoder could display
	// was complete: the first picture of a video track.
	FirstKeyframe time.Time
	SSRC          uint32
	Ended         bool // the track's reader returned: the track was removed
}

type receiver struct {
	send    func([]rtcp.Packet) error // writes feedback on the connection
	twcc    *twccRecorder
	streams *streamBuffers // the connection's SRTP stream buffers
	tap     *srtpTap       // takes its media where its socket is read
	stamps  *arrivalStamps // the receive times of its packets that pion reads
	ssrc    uint32         // the SSRC feedback is sent from
	observe func(participantID string, audio bool, p *pionrtp.Packet, at time.Time)
	// participant, when set, sent every track the receiver reads: a peer
	// connection's tracks do not carry the sender's ID as their stream
	// ID, as the SFU's do.
	participant string
	// gapsFrom: pauses that end before it are not counted in the tracks'
	// LongestPacketGap and LongestFrameGap (Options.GapsFrom).
	gapsFrom time.Time

	mu     sync.Mutex // guards tracks, the trackStates and the feedback state below
	tracks map[string]*trackState

	nextTWCC, nextReport time.Time
	seqs                 []uint16 // scratch for NACKs
}

// SettleWindow is how far behind the newest packet a hole must be to count
// as Unrepaired: about a second of video, many NACK round trips.
const SettleWindow = 90

type trackState struct {
	counts   TrackCounts
	gapsFrom time.Time // see receiver.gapsFrom
	unwrap   rtp.SeqUnwrapper
	ring     []slot // by extended sequence number, the last ringSize
	lo, hi   uint64
	settled  uint64 // holes at or below this were counted in Unrepaired

	clockRate  float64
	transit    float64 // arrival minus RTP time of the last packet, in clock units
	jitter     float64 // in clock units
	hasTransit bool

	lastNew time.Time // when the newest new packet arrived

	nack     bool   // missing packets are asked for (video)
	nackFrom uint64 // packets below this need no more asking

	// For receiver reports.
	reportedExpected, reportedUnique uint64
	lastSR                           uint32 // middle 32 bits of the last sender report's NTP time
	lastSRAt                         time.Time
	player
}

// slot is what a track knows of one sequence number. The ring holds the
// slot of ext at ext%ringSize, and a slot whose ext is another number
// knows nothing of this one.
//
// It is 16 bytes, four to a cache line: with thousands of tracks, each
// packet's slot is cold memory, and the fewer lines a packet touches the
// less the harness spends waiting on them.
type slot struct {
	ext       uint32 // low bits of the extended sequence number; never 0 (SeqUnwrapper starts at 1<<16)
	missingAt uint32 // when first known missing, in ms since the track's first packet plus one; 0 if it never was
	size      uint16 // payload bytes
	nacks     uint8  // times asked for
	seen      bool   // arrived
	pending   bool   // arrived, not yet played
	end, key  bool   // marker bit; keyframe
}

// ringSize covers the longest run of packets marked missing at once
// (maxMarkMissing) plus SettleWindow, with room to spare. A power of two.
const ringSize = 2048

// maxMarkMissing is how many packets skipped over by one arrival are
// marked missing (timed and asked for); beyond that the rest is lost.
const maxMarkMissing = 1000

// at returns ext's slot, or nil if the ring holds none for it.
func (st *trackState) at(ext uint64) *slot {
	s := &st.ring[ext&(ringSize-1)]
	if s.ext != uint32(ext) {
		return nil
	}
	return s
}

// claim returns ext's slot, emptied first if it held another number.
func (st *trackState) claim(ext uint64) *slot {
	s := &st.ring[ext&(ringSize-1)]
	if s.ext != uint32(ext) {
		*s = slot{ext: uint32(ext)}
	}
	return s
}

// clockMS is now in a slot's missingAt terms.
func (st *trackState) clockMS(now time.Time) uint32 {
	return uint32(now.Sub(st.counts.First)/time.Millisecond) + 1
}

// pliEvery is how often a receiver that cannot decode asks for a
// keyframe, as browsers throttle their PLIs.
const pliEvery = 500 * time.Millisecond

// newReceiver returns a receiver that, once registered with the feedback
// clock, sends its feedback with send: NACKs, reports, congestion control
// feedback, and a PLI when a track needs a keyframe to show video again.
func newReceiver(send func([]rtcp.Packet) error) *receiver {
	return &receiver{tracks: map[string]*trackState{}, send: send, twcc: newTWCCRecorder(), streams: newStreamBuffers(), tap: newSRTPTap(), stamps: &arrivalStamps{}, ssrc: rand.Uint32()}
}

func newTrackState(counts TrackCounts, clockRate uint32, nack bool) *trackState {
	return &trackState{counts: counts, clockRate: float64(clockRate), nack: nack, ring: make([]slot, ringSize)}
}

// read counts a remote track's packets until it ends. The first packet
// comes through pion's track reader; the rest, retransmissions on a
// separate RTX stream included, are taken where the socket is read
// (srtpTap, when tapped is true) or else where the SRTP session decrypts
// them (streamBuffers).
func (r *receiver) read(t *webrtc.TrackRemote, rr *webrtc.RTPReceiver, tapped bool) {
	from := t.StreamID()
	if r.participant != "" {
		from = r.participant
	}
	key := from + "/" + t.Kind().String() + "/" + t.ID()
	audio := t.Kind() == webrtc.RTPCodecTypeAudio
	in := &trackInput{r: r, codec: rtp.CodecFromMime(t.Codec().MimeType), audio: audio, ssrc: uint32(t.SSRC()), rtxSSRC: uint32(t.RtxSSRC())}
	in.st = newTrackState(TrackCounts{
		ParticipantID: from, Kind: t.Kind().String(), Codec: t.Codec().MimeType, SSRC: uint32(t.SSRC()),
	}, t.Codec().ClockRate, !audio)
	in.st.gapsFrom = r.gapsFrom
	r.mu.Lock()
	if old := r.tracks[key]; old != nil {
		// The server replaced the track with one of the same IDs (a relay
		// between nodes opened again): what the old one received stays.
		r.tracks[key+"#"+strconv.Itoa(len(r.tracks))] = old
	}
	r.tracks[key] = in.st
	r.mu.Unlock()
	go r.readRTCP(rr, in.st)

	// The RTX stream first: pion starts its own reader of it at the
	// first Read, and that reader then only waits for the close.
	var rtx *streamBuffer
	main := r.streams.take(in.ssrc)
	if in.rtxSSRC != 0 {
		if rtx = r.streams.take(in.rtxSSRC); rtx == nil {
			main = nil // pion's reader merges the retransmissions in
		}
	}
	if rtx != nil && main != nil {
		rtx.attach(func(b []byte) { in.repaired(b, time.Time{}, &in.rtx) })
		if tapped {
			r.tap.attach(in.rtxSSRC, in.repaired)
			defer r.tap.detach(in.rtxSSRC)
		}
	}
	buf := make([]byte, receiveMTU)
	var p pionrtp.Packet
	for first := true; ; first = false {
		n, _, err := t.Read(buf)
		if err != nil {
			r.mu.Lock()
			in.st.counts.Ended = true
			r.mu.Unlock()
			return
		}
		if p.Unmarshal(buf[:n]) == nil {
			in.count(&p, n, time.Now())
		}
		if first && main != nil {
			main.attach(func(b []byte) { in.decrypted(b, time.Time{}, &in.p) })
			if tapped {
				r.tap.attach(in.ssrc, in.decrypted)
				defer r.tap.detach(in.ssrc)
			}
		}
	}
}

// trackInput takes one track's packets.
type trackInput struct {
	r             *receiver
	st            *trackState
	codec         rtp.Codec
	audio         bool
	ssrc, rtxSSRC uint32
	p, rtx        pionrtp.Packet // scratch of the SRTP session's calls
}

// decrypted handles a decrypted packet of the track's stream that arrived
// at at (zero: look its stamp up), parsed into the scratch p. It runs on
// the goroutine that decrypted the packet, which bypasses pion's
// interceptors: it records the arrival for congestion control feedback
// itself.
func (in *trackInput) decrypted(b []byte, at time.Time, p *pionrtp.Packet) {
	if at, ok := in.arrive(b, in.ssrc, p, at); ok {
		in.count(p, len(b), at)
	}
}

// repaired handles a packet of the track's RTX stream (RFC 4588) likewise:
// a retransmission counts as the packet it carries, and padding alone (a
// bandwidth probe) only for congestion control feedback.
func (in *trackInput) repaired(b []byte, at time.Time, p *pionrtp.Packet) {
	at, ok := in.arrive(b, in.rtxSSRC, p, at)
	if !ok || len(p.Payload) < 2 {
		return
	}
	p.SequenceNumber = binary.BigEndian.Uint16(p.Payload)
	p.SSRC, p.Payload = in.ssrc, p.Payload[2:]
	in.count(p, len(b)-2, at)
}

// arrive parses b, a packet of stream ssrc that arrived at at (zero: look
// its stamp up, or else take now), into p and records its arrival for
// congestion control feedback; it returns when the packet arrived, and
// false if b is not an RTP packet.
func (in *trackInput) arrive(b []byte, ssrc uint32, p *pionrtp.Packet, at time.Time) (time.Time, bool) {
	if p.Unmarshal(b) != nil {
		return time.Time{}, false
	}
	if at.IsZero() {
		var ok bool
		if at, ok = in.r.stamps.take(ssrc, p.SequenceNumber); !ok {
			at = time.Now()
		}
	}
	in.r.twcc.recordPacket(ssrc, b, at)
	return at, true
}

// count counts one packet of n bytes that arrived at now.
func (in *trackInput) count(p *pionrtp.Packet, n int, now time.Time) {
	r := in.r
	if r.observe != nil {
		r.observe(in.st.counts.ParticipantID, in.audio, p, now)
	}
	r.mu.Lock()
	in.st.add(p, n, in.codec, now)
	r.mu.Unlock()
}

// readRTCP reads the track's RTCP until the receiver stops, keeping the
// sender reports' times for the receiver reports.
func (r *receiver) readRTCP(rr *webrtc.RTPReceiver, st *trackState) {
	for {
		pkts, _, err := rr.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == st.counts.SSRC {
				r.mu.Lock()
				st.lastSR, st.lastSRAt = uint32(sr.NTPTime>>16), time.Now()
				r.mu.Unlock()
			}
		}
	}
}

func (st *trackState) add(p *pionrtp.Packet, n int, codec rtp.Codec, now time.Time) {
	c := &st.counts
	ext := st.unwrap.Unwrap(p.SequenceNumber)
	c.Packets++
	c.Bytes += n
	if c.First.IsZero() {
		c.First, st.lo, st.hi, st.settled, st.next, st.nackFrom = now, ext, ext, ext, ext, ext+1
	}
	c.Last = now
	st.addJitter(p.Timestamp, now)
	if s := st.at(ext); s != nil && s.seen {
		c.Duplicates++
		return
	}
	c.Unique++
	longest(&c.LongestPacketGap, &c.LongestPacketGapAt, &st.lastNew, now, st.gapsFrom)
	if ext < st.lo {
		st.lo = ext
	}
	if ext <= st.settled && ext > st.lo {
		c.Unrepaired-- // a very late repair of a hole already counted
	}
	if ext > st.hi {
		// Packets skipped over are missing from now: a jitter buffer
		// times each one from here, all at once.
		for m := st.hi + 1; m < ext && m <= st.hi+maxMarkMissing; m++ {
			st.claim(m).missingAt = st.clockMS(now)
		}
		st.hi = ext
		for ; st.settled+SettleWindow < st.hi; st.settled++ {
			if s := st.at(st.settled + 1); s == nil || !s.seen {
				c.Unrepaired++
			}
		}
	}
	c.Missing = int(st.hi-st.lo+1) - c.Unique
	if ext+ringSize <= st.hi {
		return // too old to remember, and long played out
	}
	s := st.claim(ext)
	s.seen = true
	key := rtp.IsKeyframe(codec, p.Payload)
	if p.Marker {
		c.Frames++
		longest(&c.LongestFrameGap, &c.LongestFrameGapAt, &c.LastFrame, now, st.gapsFrom)
	}
	if key {
		c.Keyframes++
	}
	if ext >= st.next {
		s.pending, s.size, s.end, s.key = true, uint16(len(p.Payload)), p.Marker, key
	}
	st.play(now)
}

// longest keeps in gap the longest time between successive arrivals, and
// in at when it began, the latest arrival so far being *last; arrival
// times are the kernel's, taken on several goroutines, so one can come
// after a later one's. A pause that ended before from is not counted.
func longest(gap *time.Duration, at, last *time.Time, now, from time.Time) {
	if now.After(*last) {
		if d := now.Sub(*last); !last.IsZero() && d > *gap && !now.Before(from) {
			*gap, *at = d, *last
		}
		*last = now
	}
}

// addJitter updates the interarrival jitter estimate (RFC 3550, A.8).
func (st *trackState) addJitter(ts uint32, now time.Time) {
	if st.clockRate <= 0 {
		return
	}
	arrival := float64(now.UnixNano()) / 1e9 * st.clockRate
	transit := arrival - float64(ts)
	if st.hasTransit {
		d := transit - st.transit
		// RTP time wraps: a step of more than half the range is a wrap.
		if d > 1<<31 {
			d -= 1 << 32
		} else if d < -(1 << 31) {
			d += 1 << 32
		}
		if d < 0 {
			d = -d
		}
		st.jitter += (d - st.jitter) / 16
		st.counts.Jitter = time.Duration(st.jitter / st.clockRate * 1e9)
	}
	st.transit, st.hasTransit = transit, true
}

func (r *receiver) snapshot() map[string]TrackCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]TrackCounts, len(r.tracks))
	for k, st := range r.tracks {
		out[k] = st.counts
	}
	return out
}
