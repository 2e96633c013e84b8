package sfu

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pion/interceptor"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// packetReader is where a layer's packets come from: a *webrtc.TrackRemote
// in production.
type packetReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// UpTrack is one track a participant publishes, with all its simulcast
// layers. Each layer has one reader goroutine that reads packets into
// reused buffers, stores them in the layer's packet cache, and hands them
// to every DownTrack through a copy-on-write slice, so the hot path takes
// no lock of the UpTrack's; video goes a frame at a time (runFrames).
type UpTrack struct {
	id          string
	publisherID string
	// identity is the publisher's person (its token's identity): two
	// sessions of one person (moving between nodes) share it.
	identity string
	kind     webrtc.RTPCodecType
	source   TrackSource
	codec    webrtc.RTPCodecParameters
	rcodec   rtp.Codec

	cacheSize     int
	keyframeEvery time.Duration
	sendPLI       func(ssrc uint32)
	now           func() time.Time
	metrics       *Metrics
	traffic       *traffic // the SFU's, for Load

	layers [MaxLayers]atomic.Pointer[layer]
	down   atomic.Pointer[[]*DownTrack]
	// together is set once the publisher is seen to send a keyframe on
	// every layer at once, as browsers' VP8 simulcast encoders do for a
	// keyframe request of any one layer. Its layers' requests then share
	// keyframes, one throttle: asking for each layer in turn would make
	// each request a keyframe on every layer, the largest one included,
	// for every subscriber of it.
	together  atomic.Bool
	keyframes *rtp.KeyframeThrottle // the layers' shared throttle
	muted     atomic.Bool
	// codecAsked is set once the room asked the publisher to send the
	// track in another codec (roomcodecs.go).
	codecAsked atomic.Bool
	// direct is set while the publisher sends the track over a peer
	// connection instead (its room is in mode p2p): its silent layers can
	// be had again at their last bitrate, as paused ones can.
	direct atomic.Bool
	levels audioLevels // audio only: levels for active speaker detection

	mu      sync.Mutex // guards closed, readers and writes of down
	closed  bool
	readers int // layers whose reader is running
}

type upTrackParams struct {
	id, publisherID string
	identity        string
	kind            webrtc.RTPCodecType
	source          TrackSource // "": the kind's default
	codec           webrtc.RTPCodecParameters
	cacheSize       int
	keyframeEvery   time.Duration
	sendPLI         func(ssrc uint32)
	now             func() time.Time
	metrics         *Metrics
	traffic         *traffic // nil: counted apart from any SFU's (tests)
}

func newUpTrack(p upTrackParams) *UpTrack {
	u := &UpTrack{
		id:            p.id,
		publisherID:   p.publisherID,
		identity:      p.identity,
		kind:          p.kind,
		source:        p.source,
		codec:         p.codec,
		rcodec:        rtp.CodecFromMime(p.codec.MimeType),
		cacheSize:     p.cacheSize,
		keyframeEvery: p.keyframeEvery,
		sendPLI:       p.sendPLI,
		now:           p.now,
		metrics:       p.metrics,
		traffic:       p.traffic,
		keyframes:     rtp.NewKeyframeThrottle(p.keyframeEvery),
	}
	if u.traffic == nil {
		u.traffic = &traffic{}
	}
	if u.source == "" {
		u.source = defaultSource(u.kind)
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
	return TrackInfo{ID: u.id, Kind: u.kind.String(), Source: string(u.source), Muted: u.muted.Load()}
}

// setAudioLevelExt tells the track which of the header extensions its
// publisher negotiated (RTPReceiver.GetParameters().HeaderExtensions) is the
// audio level, so that it can feed active speaker detection. Without it an
// audio track counts as silent. It may be called at any time, repeatedly.
func (u *UpTrack) setAudioLevelExt(exts []webrtc.RTPHeaderExtensionParameter) {
	u.levels.setExtension(exts)
}

// addLayer registers a layer before its reader starts. It reports false
// if the UpTrack is closed or already has that layer.
func (u *UpTrack) addLayer(index int, rid string, ssrc uint32) (*layer, bool) {
	l := &layer{
		index: index, rid: rid, ssrc: ssrc,
		cache:     rtp.NewPacketCache(u.cacheSize),
		keyframes: rtp.NewKeyframeThrottle(u.keyframeEvery),
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || u.layers[index].Load() != nil {
		return nil, false
	}
	u.layers[index].Store(l)
	u.readers++
	return l, true
}

// runLayer reads a layer's packets until its source fails (the publisher
// connection closed or the track was removed). It reports whether that was
// the track's last running layer, so the caller unpublishes it.
func (u *UpTrack) runLayer(l *layer, src packetReader) (last bool) {
	if u.kind == webrtc.RTPCodecTypeVideo {
		u.runFrames(l, src)
	} else {
		p := &inPacket{buf: make([]byte, packetSlot)}
		for {
			n, attrs, err := src.Read(p.buf)
			if err != nil {
				break
			}
			u.forwardRead(l, p, n, repairedAttr(attrs))
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.readers--
	return u.readers == 0
}

// packetSlot is the size of a buffer a packet is read into.
const packetSlot = 1500

// inPacket is one packet read from a layer, parsed for forwarding.
type inPacket struct {
	buf      []byte // owned, packetSlot long
	hdr      pionrtp.Header
	payload  []byte // within buf
	keyframe bool
	repaired bool // it came as a retransmission
	at       time.Time
}

// repairedAttr reports whether pion read the packet from the RTX stream.
func repairedAttr(attrs interceptor.Attributes) bool {
	return attrs != nil && attrs.Get(webrtc.AttributeRtxSsrc) != nil
}

// forward handles one packet of layer l, at once. p's buffer is reused
// between calls.
func (u *UpTrack) forward(l *layer, pkt []byte, p *inPacket, repaired bool) {
	if cap(p.buf) < len(pkt) {
		p.buf = make([]byte, max(len(pkt), packetSlot))
	}
	p.buf = p.buf[:cap(p.buf)]
	u.forwardRead(l, p, copy(p.buf, pkt), repaired)
}

// forwardRead forwards the packet read into p.buf[:n], at once.
func (u *UpTrack) forwardRead(l *layer, p *inPacket, n int, repaired bool) {
	if u.accept(l, p, n, repaired) {
		u.fanOut(l, unsafe.Slice(p, 1))
	}
}

// accept does the bookkeeping of the packet in p.buf[:n] and parses it
// into p; it reports whether the packet is to be forwarded.
func (u *UpTrack) accept(l *layer, p *inPacket, n int, repaired bool) bool {
	pkt := p.buf[:n]
	ext, dup, ok := l.cache.Add(pkt)
	if !ok {
		return false
	}
	if dup {
		// A retransmission (or a repeated probe) of a packet already
		// forwarded: subscribers must not get it twice.
		u.metrics.DuplicatesDropped.Inc()
		return false
	}
	hl, err := p.hdr.Unmarshal(pkt)
	if err != nil {
		return false
	}
	end := len(pkt)
	if p.hdr.Padding {
		if pkt[end-1] == 0 {
			return false // the count includes itself (RFC 3550, 5.1): malformed
		}
		end -= int(pkt[end-1])
	}
	if end <= hl {
		// Padding only: a bandwidth probe. It stays in the cache so that a
		// NACK for its sequence number can still be answered, but it is
		// not forwarded; the subscriber connection probes on its own.
		return false
	}
	p.payload = pkt[hl:end]
	p.repaired = repaired
	p.at = u.now()
	u.metrics.PacketsReceived.Inc()
	u.traffic.received(n)
	l.account(len(pkt), p.at.UnixNano())
	if !repaired {
		l.stats.Update(ext, p.hdr.Timestamp, p.at, u.codec.ClockRate)
	}
	if u.kind == webrtc.RTPCodecTypeAudio {
		u.levels.observe(&p.hdr)
	}
	p.keyframe = u.kind == webrtc.RTPCodecTypeVideo && rtp.IsKeyframe(u.rcodec, p.payload)
	if p.keyframe {
		u.noteKeyframe(l, p.at)
	}
	return true
}

// keyframesTogether is how close in time the keyframes of a publisher's
// layers arrive when its encoder makes them all at once: one frame time
// at most, as the layers are encoded from the same frame.
const keyframesTogether = 30 * time.Millisecond

// noteKeyframe records a keyframe of l arriving at now, and sets together
// if it completes a set of keyframes on every flowing layer. A layer's
// first keyframe is no evidence: every layer starts with one.
func (u *UpTrack) noteKeyframe(l *layer, now time.Time) {
	at := now.UnixNano()
	first := l.keyframeAt.Swap(at) == 0
	if first || u.together.Load() {
		return
	}
	others := 0
	for i := range MaxLayers {
		o := u.layer(i)
		if o == nil || o == l || !o.active(now) {
			continue
		}
		if at-o.keyframeAt.Load() > int64(keyframesTogether) {
			return
		}
		others++
	}
	if others > 0 {
		u.together.Store(true)
	}
}

// fanOut writes pkts, in order, to every DownTrack: all of them to one
// subscriber, then all to the next, so that the packets for one
// subscriber leave the media socket together (see runFrames).
func (u *UpTrack) fanOut(l *layer, pkts []inPacket) {
	downs := *u.down.Load()
	sent, bytes := 0, 0
	for _, d := range downs {
		for i := range pkts {
			p := &pkts[i]
			if n := d.writeRTP(l, &p.hdr, p.payload, p.keyframe, p.at); n > 0 {
				sent++
				bytes += n
			}
		}
	}
	u.metrics.PacketsForwarded.Add(float64(sent))
	if sent > 0 {
		u.traffic.forwarded(sent, bytes)
	}
}

// layer returns layer i, or nil.
func (u *UpTrack) layer(i int) *layer {
	if i < 0 || i >= MaxLayers {
		return nil
	}
	return u.layers[i].Load()
}

// flowing reports whether layer i is receiving packets.
func (u *UpTrack) flowing(i int, now time.Time) bool {
	l := u.layer(i)
	return l != nil && l.active(now)
}

// RequestKeyframe asks the publisher for a keyframe of layer i, at most
// once per keyframe interval, for the layer or, once the publisher is seen
// to make its keyframes on every layer at once (together), for the track;
// requests in between are satisfied by the pending one.
func (u *UpTrack) RequestKeyframe(i int) {
	l := u.layer(i)
	if u.kind != webrtc.RTPCodecTypeVideo || l == nil {
		return
	}
	throttle := l.keyframes
	if u.together.Load() {
		throttle = u.keyframes
	}
	if !throttle.Allow(u.now()) {
		return
	}
	u.metrics.KeyframeRequests.Inc()
	u.sendPLI(l.ssrc)
}

// requestKeyframeNow asks for a keyframe of layer i even if one was asked
// for within the throttle's interval, for a subscriber that must switch
// to that layer at once (dropTo).
func (u *UpTrack) requestKeyframeNow(i int) {
	l := u.layer(i)
	if u.kind != webrtc.RTPCodecTypeVideo || l == nil {
		return
	}
	now := u.now()
	l.keyframes.Allow(now) // restarts the intervals
	u.keyframes.Allow(now)
	u.metrics.KeyframeRequests.Inc()
	u.sendPLI(l.ssrc)
}

// topLayer is the highest layer at most max that is receiving packets, or
// the lowest registered layer when none is (a track just published).
func (u *UpTrack) topLayer(max int, now time.Time) int {
	fallback := -1
	for i := min(max, MaxLayers-1); i >= 0; i-- {
		l := u.layer(i)
		if l == nil {
			continue
		}
		if l.active(now) {
			return i
		}
		fallback = i
	}
	return fallback
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
	return true
}

// Closed reports whether the track has ended.
func (u *UpTrack) Closed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}
