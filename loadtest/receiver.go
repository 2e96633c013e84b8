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
	LastFrameSize int // payload bytes of the newest complete frame (VP8 descriptor included)
	Keyframes     int
	Bytes         int
	First, Last   time.Time
	SSRC          uint32
	Ended         bool // the track's reader returned: the track was removed
}

type receiver struct {
	mu     sync.Mutex // guards tracks
	tracks map[string]*trackState
}

// SettleWindow is how far behind the newest packet a hole must be to count
// as Unrepaired: about a second of video, many NACK round trips.
const SettleWindow = 90

type trackState struct {
	counts  TrackCounts
	unwrap  rtp.SeqUnwrapper
	seen    map[uint64]bool
	lo, hi  uint64
	settled uint64 // holes at or below this were counted in Unrepaired
	frameTS uint32 // timestamp of the frame being summed
	frameSz int    // payload bytes of it so far
}

func newReceiver() *receiver { return &receiver{tracks: map[string]*trackState{}} }

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
	st := &trackState{seen: map[uint64]bool{}, counts: TrackCounts{
		ParticipantID: t.StreamID(), Kind: t.Kind().String(), Codec: t.Codec().MimeType, SSRC: uint32(t.SSRC()),
	}}
	r.mu.Lock()
	r.tracks[key] = st
	r.mu.Unlock()

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
		r.mu.Lock()
		st.add(&p, n, codec, now)
		r.mu.Unlock()
	}
}

func (st *trackState) add(p *pionrtp.Packet, n int, codec rtp.Codec, now time.Time) {
	c := &st.counts
	ext := st.unwrap.Unwrap(p.SequenceNumber)
	c.Packets++
	c.Bytes += n
	if c.First.IsZero() {
		c.First, st.lo, st.hi, st.settled = now, ext, ext, ext
	}
	c.Last = now
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
		st.hi = ext
		for ; st.settled+SettleWindow < st.hi; st.settled++ {
			if !st.seen[st.settled+1] {
				c.Unrepaired++
			}
		}
	}
	c.Missing = int(st.hi-st.lo+1) - c.Unique
	if p.Timestamp != st.frameTS {
		st.frameTS, st.frameSz = p.Timestamp, 0
	}
	st.frameSz += len(p.Payload)
	if p.Marker {
		c.Frames++
		c.LastFrameSize = st.frameSz
	}
	if rtp.IsKeyframe(codec, p.Payload) {
		c.Keyframes++
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
