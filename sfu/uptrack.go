package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// packetReader is where an UpTrack's packets come from: a
// *webrtc.TrackRemote in production.
type packetReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// UpTrack is one track a participant publishes. A single reader goroutine
// owns it: it reads each packet into a reused buffer, stores it in the
// packet cache, and hands it to every DownTrack through a copy-on-write
// slice, so the hot path takes no lock of the UpTrack's.
type UpTrack struct {
	id          string
	publisherID string
	kind        webrtc.RTPCodecType
	codec       webrtc.RTPCodecParameters
	rcodec      rtp.Codec
	ssrc        uint32

	cache     *rtp.PacketCache
	stats     rtp.ReceiveStats
	keyframes *rtp.KeyframeThrottle
	sendPLI   func(ssrc uint32)
	now       func() time.Time
	metrics   *Metrics

	down   atomic.Pointer[[]*DownTrack]
	muted  atomic.Bool
	mu     sync.Mutex // guards closed and writes of down
	closed bool
	done   chan struct{}
}

type upTrackParams struct {
	id, publisherID string
	kind            webrtc.RTPCodecType
	codec           webrtc.RTPCodecParameters
	ssrc            uint32
	cacheSize       int
	keyframeEvery   time.Duration
	sendPLI         func(ssrc uint32)
	now             func() time.Time
	metrics         *Metrics
}

func newUpTrack(p upTrackParams) *UpTrack {
	u := &UpTrack{
		id:          p.id,
		publisherID: p.publisherID,
		kind:        p.kind,
		codec:       p.codec,
		rcodec:      rtp.CodecFromMime(p.codec.MimeType),
		ssrc:        p.ssrc,
		cache:       rtp.NewPacketCache(p.cacheSize),
		keyframes:   rtp.NewKeyframeThrottle(p.keyframeEvery),
		sendPLI:     p.sendPLI,
		now:         p.now,
		metrics:     p.metrics,
		done:        make(chan struct{}),
	}
	empty := []*DownTrack{}
	u.down.Store(&empty)
	return u
}

// ID is the track's identifier, unique on this server.
func (u *UpTrack) ID() string { return u.id }

// Kind is audio or video.
func (u *UpTrack) Kind() webrtc.RTPCodecType { return u.kind }

// Info describes the track for clients.
func (u *UpTrack) Info() TrackInfo {
	return TrackInfo{ID: u.id, Kind: u.kind.String(), Muted: u.muted.Load()}
}

// run reads packets until the source fails: the publisher connection
// closed or the track was removed. The caller then unpublishes it.
func (u *UpTrack) run(src packetReader) {
	buf := make([]byte, 1500)
	var hdr pionrtp.Header
	for {
		n, attrs, err := src.Read(buf)
		if err != nil {
			return
		}
		repaired := attrs != nil && attrs.Get(webrtc.AttributeRtxSsrc) != nil
		u.forward(buf[:n], &hdr, repaired)
	}
}

// forward handles one packet from the publisher. hdr is scratch space
// reused between calls.
func (u *UpTrack) forward(pkt []byte, hdr *pionrtp.Header, repaired bool) {
	ext, dup, ok := u.cache.Add(pkt)
	if !ok {
		return
	}
	if dup {
		// A retransmission (or a repeated probe) of a packet already
		// forwarded: subscribers must not get it twice.
		u.metrics.DuplicatesDropped.Inc()
		return
	}
	n, err := hdr.Unmarshal(pkt)
	if err != nil {
		return
	}
	end := len(pkt)
	if hdr.Padding {
		end -= int(pkt[end-1])
	}
	if end <= n {
		// Padding only: a bandwidth probe. It stays in the cache so that a
		// NACK for its sequence number can still be answered, but it is
		// not forwarded; the subscriber connection probes on its own.
		return
	}
	payload := pkt[n:end]
	u.metrics.PacketsReceived.Inc()
	if !repaired {
		u.stats.Update(ext, hdr.Timestamp, u.now(), u.codec.ClockRate)
	}
	keyframe := u.kind == webrtc.RTPCodecTypeVideo && rtp.IsKeyframe(u.rcodec, payload)
	downs := *u.down.Load()
	for _, d := range downs {
		d.writeRTP(hdr, payload, keyframe)
	}
	u.metrics.PacketsForwarded.Add(float64(len(downs)))
}

// RequestKeyframe asks the publisher for a keyframe, at most once per
// keyframe interval; requests in between are satisfied by the pending one.
func (u *UpTrack) RequestKeyframe() {
	if u.kind != webrtc.RTPCodecTypeVideo || !u.keyframes.Allow(u.now()) {
		return
	}
	u.metrics.KeyframeRequests.Inc()
	u.sendPLI(u.ssrc)
}

// addDownTrack starts forwarding to d. It reports false if the UpTrack is
// already closed.
func (u *UpTrack) addDownTrack(d *DownTrack) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return false
	}
	old := *u.down.Load()
	next := make([]*DownTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	u.down.Store(&next)
	return true
}

// removeDownTrack stops forwarding to d.
func (u *UpTrack) removeDownTrack(d *DownTrack) {
	u.mu.Lock()
	defer u.mu.Unlock()
	old := *u.down.Load()
	next := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	u.down.Store(&next)
}

// close marks the track ended; it is idempotent. Reports whether this call closed it.
func (u *UpTrack) close() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return false
	}
	u.closed = true
	empty := []*DownTrack{}
	u.down.Store(&empty)
	close(u.done)
	return true
}

// Closed reports whether the track has ended.
func (u *UpTrack) Closed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

// Stats returns the receive statistics of the published stream.
func (u *UpTrack) Stats() rtp.StatsSnapshot { return u.stats.Snapshot() }
