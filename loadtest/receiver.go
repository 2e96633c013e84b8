package loadtest

import (
	"sync"
	"time"

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
	// Jitter is the interarrival jitter (RFC 3550, 6.4.1).
	Jitter      time.Duration
	First, Last time.Time
	SSRC        uint32
	Ended       bool // the track's reader returned: the track was removed
}

type receiver struct {
	pli     func(ssrc uint32)
	observe func(participantID string, audio bool, p *pionrtp.Packet, at time.Time)

	mu     sync.Mutex // guards tracks
	tracks map[string]*trackState
}

// SettleWindow is how far behind the newest packet a hole must be to count
// as Unrepaired: about a second of video, many NACK round trips.
const SettleWindow = 90

type trackState struct {
	counts  TrackCounts
	unwrap  rtp.SeqUnwrapper
	seen    map[uint64]bool // from settled-seenKeep on, so it stays small
	lo, hi  uint64
	settled uint64 // holes at or below this were counted in Unrepaired

	clockRate  float64
	transit    float64 // arrival minus RTP time of the last packet, in clock units
	jitter     float64 // in clock units
	hasTransit bool
	player
}

// seenKeep is how far below settled sequence numbers are remembered, to
// tell a very late repair or a duplicate from a new packet.
const seenKeep = 200

// FreezeGap is the longest pause between two displayed frames that is
// not counted as a freeze.
const FreezeGap = 500 * time.Millisecond

// player plays a track out as a decoder would: frames in order, each once
// all its packets are there. A hole given up on (SettleWindow) breaks its
// frame, and nothing is shown again until a keyframe.
type player struct {
	next    uint64                // the first packet not yet played
	pending map[uint64]pendingPkt // arrived, not yet played
	size    int                   // payload bytes of the frame being played
	broken  bool                  // it lacks a packet
	key     bool                  // it is a keyframe
	needKey bool                  // a frame was broken since the last keyframe
	lastPLI time.Time             // when a keyframe was last asked for

	missingAt map[uint64]time.Time // when each missing packet was first known missing
	shownAt   time.Time
}

type pendingPkt struct {
	size     int
	end, key bool
}

// PlayoutWait is how long playout waits for a missing packet before it
// gives the frame up, as a browser's jitter buffer does.
const PlayoutWait = 500 * time.Millisecond

// pliEvery is how often a receiver that cannot decode asks for a
// keyframe, as browsers throttle their PLIs.
const pliEvery = 500 * time.Millisecond

// newReceiver returns a receiver that calls pli with a track's SSRC when
// it needs a keyframe to show video again.
func newReceiver(pli func(ssrc uint32)) *receiver {
	return &receiver{tracks: map[string]*trackState{}, pli: pli}
}

// read counts a remote track's packets until it ends.
func (r *receiver) read(t *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
	go func() {
		for {
			if _, _, err := rr.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	key := t.StreamID() + "/" + t.Kind().String() + "/" + t.ID()
	codec := rtp.CodecFromMime(t.Codec().MimeType)
	st := &trackState{clockRate: float64(t.Codec().ClockRate), seen: map[uint64]bool{}, player: player{pending: map[uint64]pendingPkt{}, missingAt: map[uint64]time.Time{}}, counts: TrackCounts{
		ParticipantID: t.StreamID(), Kind: t.Kind().String(), Codec: t.Codec().MimeType, SSRC: uint32(t.SSRC()),
	}}
	r.mu.Lock()
	r.tracks[key] = st
	r.mu.Unlock()

	audio := t.Kind() == webrtc.RTPCodecTypeAudio
	buf := make([]byte, 1500)
	var p pionrtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			r.mu.Lock()
			st.counts.Ended = true
			r.mu.Unlock()
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		now := time.Now()
		if r.observe != nil {
			r.observe(st.counts.ParticipantID, audio, &p, now)
		}
		r.mu.Lock()
		st.add(&p, n, codec, now)
		askKey := st.needKey && now.Sub(st.lastPLI) >= pliEvery
		if askKey {
			st.lastPLI = now
		}
		r.mu.Unlock()
		if askKey && r.pli != nil {
			// A frame was lost for good: the decoder waits for a keyframe.
			r.pli(uint32(t.SSRC()))
		}
	}
}

func (st *trackState) add(p *pionrtp.Packet, n int, codec rtp.Codec, now time.Time) {
	c := &st.counts
	ext := st.unwrap.Unwrap(p.SequenceNumber)
	c.Packets++
	c.Bytes += n
	if c.First.IsZero() {
		c.First, st.lo, st.hi, st.settled, st.next = now, ext, ext, ext, ext
	}
	c.Last = now
	st.addJitter(p.Timestamp, now)
	if st.seen[ext] {
		c.Duplicates++
		return
	}
	st.seen[ext] = true
	c.Unique++
	if ext < st.lo {
		st.lo = ext
	}
	if ext <= st.settled && ext > st.lo {
		c.Unrepaired-- // a very late repair of a hole already counted
	}
	if ext > st.hi {
		// Packets skipped over are missing from now: a jitter buffer
		// times each one from here, all at once.
		for m := st.hi + 1; m < ext && m < st.hi+1000; m++ {
			st.missingAt[m] = now
		}
		st.hi = ext
		for ; st.settled+SettleWindow < st.hi; st.settled++ {
			if !st.seen[st.settled+1] {
				c.Unrepaired++
			}
			delete(st.seen, st.settled-seenKeep)
		}
	}
	c.Missing = int(st.hi-st.lo+1) - c.Unique
	key := rtp.IsKeyframe(codec, p.Payload)
	if p.Marker {
		c.Frames++
	}
	if key {
		c.Keyframes++
	}
	if ext >= st.next {
		st.pending[ext] = pendingPkt{size: len(p.Payload), end: p.Marker, key: key}
	}
	st.play(now)
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

// play plays out the packets that arrived in order, and skips holes older
// than SettleWindow, which a decoder would have given up on.
func (st *trackState) play(now time.Time) {
	c := &st.counts
	for ; st.next <= st.hi; st.next++ {
		pk, ok := st.pending[st.next]
		if !ok {
			if st.next > st.settled {
				// It may still be repaired; a decoder waits a while, then
				// gives up on it and asks for a keyframe.
				if since, ok := st.missingAt[st.next]; !ok || now.Sub(since) < PlayoutWait {
					return
				}
			}
			delete(st.missingAt, st.next)
			st.broken = true
			continue
		}
		delete(st.pending, st.next)
		delete(st.missingAt, st.next)
		st.size += pk.size
		st.key = st.key || pk.key
		if !pk.end {
			continue
		}
		if st.broken {
			st.needKey = true
		} else {
			c.LastFrameSize = st.size
			if !st.needKey || st.key {
				if !st.shownAt.IsZero() {
					gap := now.Sub(st.shownAt)
					c.LongestGap = max(c.LongestGap, gap)
					if gap > FreezeGap {
						c.Freezes++
					}
				}
				st.shownAt, st.needKey = now, false
			}
		}
		st.size, st.broken, st.key = 0, false, false
	}
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
