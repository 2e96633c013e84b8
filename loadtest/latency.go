package loadtest

// End-to-end latency: when each frame of the clip was sent, and what each
// subscriber measured.

import (
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"
)

// sendClock times end-to-end latency: publishers record when they send
// each frame of the sample clip, and subscribers, in the same process and
// so on the same clock, recognise the frame from its first bytes.
type sendClock struct {
	frames map[uint64]frameRef // fingerprint of a frame's first bytes
	counts [AudioLayer + 1]int // frames (packets) per layer
	mu     sync.Mutex          // serializes changes of pubs
	// pubs maps a publisher to its send times by layer (AudioLayer:
	// audio) and index. Every received packet looks it up, from every
	// core, so it is replaced, not changed: a lock there would be a cache
	// line that all of them write.
	pubs atomic.Pointer[map[string]*sendTimes]
}

type sendTimes [AudioLayer + 1][]atomic.Int64

type frameRef struct{ layer, frame int }

// fingerprintBytes is how much of a frame identifies it.
const fingerprintBytes = 24

func newSendClock(s *Samples) *sendClock {
	c := &sendClock{frames: map[uint64]frameRef{}}
	c.pubs.Store(&map[string]*sendTimes{})
	dup := map[uint64]bool{}
	layers := append(s.Layers[:len(s.Layers):len(s.Layers)], s.Audio)
	for l, frames := range layers {
		if l == len(s.Layers) {
			l = AudioLayer
		}
		c.counts[l] = len(frames)
		for i, f := range frames {
			k := fingerprint(f.Data)
			if _, ok := c.frames[k]; ok {
				dup[k] = true
			}
			c.frames[k] = frameRef{l, i}
		}
	}
	for k := range dup {
		delete(c.frames, k) // ambiguous: not used for latency
	}
	return c
}

func fingerprint(b []byte) uint64 {
	// FNV-1a over the first bytes.
	h := uint64(14695981039346656037)
	for _, c := range b[:min(len(b), fingerprintBytes)] {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func (c *sendClock) register(pub string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.pubs.Load()
	if _, ok := old[pub]; ok {
		return
	}
	var t sendTimes
	for l := range t {
		t[l] = make([]atomic.Int64, c.counts[l])
	}
	pubs := maps.Clone(old)
	pubs[pub] = &t
	c.pubs.Store(&pubs)
}

func (c *sendClock) sent(pub string, layer, frame int) {
	t := (*c.pubs.Load())[pub]
	if t == nil || layer < 0 || layer > AudioLayer || frame < 0 || frame >= len(t[layer]) {
		return
	}
	t[layer][frame].Store(time.Now().UnixNano())
}

// observe times a received audio packet or a packet that starts a VP8
// frame.
func (c *sendClock) observe(l *latencies, pub string, audio bool, p *pionrtp.Packet, at time.Time) {
	payload := p.Payload // Opus goes as is
	if !audio {
		var ok bool
		if payload, ok = vp8FrameStart(p.Payload); !ok {
			return
		}
	}
	ref, ok := c.frames[fingerprint(payload)]
	if !ok || (ref.layer == AudioLayer) != audio {
		return
	}
	t := (*c.pubs.Load())[pub]
	if t == nil || ref.frame >= len(t[ref.layer]) {
		return
	}
	sent := t[ref.layer][ref.frame].Load()
	if sent == 0 {
		return
	}
	d := at.UnixNano() - sent
	if d < 0 || d > int64(10*time.Second) {
		return // an older loop of the clip
	}
	l.add(float64(d) / 1e6)
}

// vp8FrameStart returns the frame data of an RTP VP8 payload that starts
// a frame (RFC 7741: S bit set, partition 0), after the payload
// descriptor.
func vp8FrameStart(b []byte) ([]byte, bool) {
	if len(b) < 1 || b[0]&0x10 == 0 || b[0]&0x07 != 0 {
		return nil, false
	}
	i := 1
	if b[0]&0x80 != 0 { // X: extension byte
		if len(b) < 2 {
			return nil, false
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(b) <= i {
				return nil, false
			}
			if b[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX
			i++
		}
	}
	if len(b) <= i {
		return nil, false
	}
	return b[i:], true
}

// latencies collects one subscriber's latency samples: the ones not yet
// taken for the per-second series, and a bounded sample of all of them for
// the run's percentiles.
type latencies struct {
	mu     sync.Mutex
	recent []float64 // since the last since()
	vals   []float64 // at most maxLatencySamples
	n      int       // samples added in all
}

// maxLatencySamples bounds memory per subscriber.
const maxLatencySamples = 8192

func (l *latencies) add(v float64) {
	l.mu.Lock()
	l.recent = append(l.recent, v)
	if len(l.vals) < maxLatencySamples {
		l.vals = append(l.vals, v)
	} else {
		// Once full, overwrite in turn, so that the whole run counts.
		l.vals[l.n%maxLatencySamples] = v
	}
	l.n++
	l.mu.Unlock()
}

// since appends to dst the samples added since the last call.
func (l *latencies) since(dst []float64) []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	dst = append(dst, l.recent...)
	l.recent = l.recent[:0]
	return dst
}

func (l *latencies) all() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]float64(nil), l.vals...)
	sort.Float64s(out)
	return out
}
