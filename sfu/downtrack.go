package sfu

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// DownTrack sends one UpTrack to one subscriber. It is our own
// webrtc.TrackLocal: pion tells it the negotiated SSRC, payload type and
// write stream in Bind, and it rewrites every forwarded packet's header so
// the subscriber sees one continuous stream, even across simulcast layer
// switches, which happen only at keyframes of the new layer.
type DownTrack struct {
	up       *UpTrack
	streamID string // the publisher's participant ID
	metrics  *Metrics
	// undecodable is set when the subscriber's answer had no codec for
	// the track (Bind failed).
	undecodable atomic.Bool
	// relayLayer is, on a DownTrack that sends a track to another node
	// (relay.go), the one layer it carries, as it comes; -1 on a
	// subscriber's.
	relayLayer int

	// current is the layer being forwarded (-1: none yet, or paused);
	// target is the layer to switch to at its next keyframe (-1: pause).
	// They are written under mu and read without it on the hot path.
	current  atomic.Int32
	target   atomic.Int32
	maxLayer atomic.Int32 // the subscriber's cap, from set_layer

	mu          sync.Mutex // guards the fields below
	writer      webrtc.TrackLocalWriter
	ssrc        uint32
	payloadType uint8
	rewriter    *rtp.Rewriter
	vp8         *rtp.VP8Munger // VP8 only: picture IDs continuous across switches
	lastSent    time.Time      // when the last packet was forwarded
	frameEnded  bool           // the last packet forwarded had the marker bit
	// levelOut is, on a relay's audio DownTrack, the ID of the audio level
	// extension on the relay connection (0: none): each packet's level is
	// carried over, for the receiving node's active speaker detection.
	levelOut uint8

	// hdrs are the headers written for forwarded packets, one per layer:
	// only that layer's reader goroutine touches it, so it needs no lock
	// even while a switch has two layers' readers writing.
	hdrs [MaxLayers]pionrtp.Header
	// bufs hold VP8 payloads whose descriptor was rewritten, one per
	// layer for the same reason.
	bufs [MaxLayers][]byte

	rtxMu    sync.Mutex // guards rtxBuf, rtxOut, rtxHdr and rtxMarks, used to answer NACKs
	rtxBuf   []byte
	rtxOut   []byte
	rtxHdr   pionrtp.Header
	rtxMarks *rtxMarks // made at the first NACK or late packet
	// queueDelay is the subscriber link's queue (nil: none known), set
	// before the track is bound; see rtxHoldMin.
	queueDelay func() time.Duration

	padMu  sync.Mutex // guards padHdr, used to write probe padding
	padHdr pionrtp.Header
}

func newDownTrack(up *UpTrack, metrics *Metrics) *DownTrack {
	d := &DownTrack{
		up:         up,
		streamID:   up.publisherID,
		metrics:    metrics,
		relayLayer: -1,
		rewriter:   rtp.NewRewriter(uint16(rand.Uint32()), rand.Uint32()),
		rtxBuf:     make([]byte, 1500),
	}
	d.current.Store(-1)
	d.target.Store(-1)
	d.maxLayer.Store(MaxLayers - 1)
	if up.rcodec == rtp.CodecVP8 {
		d.vp8 = &rtp.VP8Munger{}
		for i := range d.bufs {
			d.bufs[i] = make([]byte, rtp.MaxPacketSize)
		}
		d.rtxOut = make([]byte, rtp.MaxPacketSize)
	}
	return d
}

// ID is the published track's ID.
func (d *DownTrack) ID() string { return d.up.id }

// RID is empty: a subscriber receives a single stream per track.
func (d *DownTrack) RID() string { return "" }

// StreamID is the publisher's participant ID, so clients group a
// participant's audio and video in one MediaStream.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind is the UpTrack's kind.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.up.kind }

// Bind is called by pion when the subscriber's answer has been applied.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(d.up.codec, ctx.CodecParameters())
	if !ok {
		if len(ctx.CodecParameters()) == 0 {
			return webrtc.RTPCodecParameters{}, ErrUnsupportedCodec
		}
		// The answer is good, but carries no codec for this track.
		// Failing here would fail the whole answer (and, for the first
		// one, keep pion from ever starting the connection): the track
		// is bound to a codec the subscriber has but sends nothing (no
		// writer), and the subscription ends after the answer
		// (Participant.dropUndecodable).
		d.undecodable.Store(true)
		return ctx.CodecParameters()[0], nil
	}
	d.mu.Lock()
	d.writer = ctx.WriteStream()
	d.ssrc = uint32(ctx.SSRC())
	d.payloadType = uint8(codec.PayloadType)
	if d.relayLayer >= 0 {
		d.levelOut = audioLevelID(ctx.HeaderExtensions())
	}
	d.mu.Unlock()
	switch {
	case d.up.kind != webrtc.RTPCodecTypeVideo:
		d.current.Store(0)
		d.target.Store(0)
	case d.relayLayer >= 0:
		d.SetTarget(d.relayLayer)
	default:
		d.SetTarget(d.up.topLayer(int(d.maxLayer.Load()), d.up.now()))
	}
	return codec, nil
}

// Unbind is called by pion when the track is removed from the connection.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.writer = nil
	d.mu.Unlock()
	return nil
}

// SetTarget chooses the layer to forward from its next keyframe on; -1
// pauses the track at once.
func (d *DownTrack) SetTarget(layer int) {
	d.mu.Lock()
	d.target.Store(int32(layer))
	if layer < 0 {
		d.current.Store(-1)
	}
	changing := layer >= 0 && int32(layer) != d.current.Load()
	d.mu.Unlock()
	if changing {
		d.up.RequestKeyframe(layer)
	}
}

// dropTo stops forwarding the current layer at once and forwards layer,
// a lower one, from its next keyframe, asked for at once. On a link the
// current layer overfills, every packet more of it would queue ahead of
// that keyframe and share its losses, so the step down would take several
// retransmission round trips longer to show; the picture stops for one
// keyframe round trip instead, while the old layer is freezing anyway.
func (d *DownTrack) dropTo(layer int) {
	d.mu.Lock()
	d.target.Store(int32(layer))
	d.current.Store(-1)
	d.mu.Unlock()
	d.up.requestKeyframeNow(layer)
}

// restart makes a video track wait for a keyframe of its target layer
// again, and asks for one: what it forwarded so far was lost. The request
// is throttled like any other. Every subscriber that joins restarts once,
// and a keyframe goes to every subscriber of the layer, so a burst of
// joins asking past the throttle made the largest frames of the stream
// go to everyone once per joiner (25 joins into a room of 250 made 25
// keyframes in about a second, and latency went over 200 ms); through the
// throttle, joiners within an interval share one, and a joiner's first
// frame comes at most one interval later.
func (d *DownTrack) restart() {
	if d.up.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	d.mu.Lock()
	target := d.target.Load()
	if target >= 0 {
		d.current.Store(-1)
	}
	d.mu.Unlock()
	if target >= 0 {
		d.up.RequestKeyframe(int(target))
	}
}

// Layers returns the layer being forwarded and the one wanted.
func (d *DownTrack) Layers() (current, target int) {
	return int(d.current.Load()), int(d.target.Load())
}

// writeRTP forwards one packet of layer l if it belongs to the layer this
// subscriber gets, and returns the RTP size of what it wrote, 0 if it
// wrote nothing. It runs on l's reader goroutine and must not allocate.
func (d *DownTrack) writeRTP(l *layer, in *pionrtp.Header, payload []byte, keyframe bool, now time.Time) int {
	idx := int32(l.index)
	if idx != d.current.Load() && idx != d.target.Load() {
		return 0
	}
	d.mu.Lock()
	w := d.writer
	if w == nil {
		d.mu.Unlock()
		return 0
	}
	if idx != d.current.Load() {
		if idx != d.target.Load() {
			d.mu.Unlock()
			return 0
		}
		if !keyframe {
			// A decoder cannot start from a delta frame: keep forwarding
			// the current layer until the new one's keyframe arrives.
			d.mu.Unlock()
			d.up.RequestKeyframe(int(idx))
			return 0
		}
		if d.rewriter.Started() {
			d.rewriter.Switch(tsGap(now.Sub(d.lastSent), d.up.codec.ClockRate))
			if d.vp8 != nil {
				d.vp8.Switch()
			}
			if d.relayLayer < 0 {
				d.metrics.LayerSwitches.Inc()
			}
		}
		d.current.Store(idx)
	}
	highest, _ := d.rewriter.LastOut()
	seq, ts, ok := d.rewriter.Forward(in.SequenceNumber, in.Timestamp)
	if ok && d.vp8 != nil {
		payload = d.vp8.Munge(d.bufs[l.index], payload, true)
		ok = payload != nil
	}
	if !ok {
		d.mu.Unlock()
		return 0
	}
	d.lastSent = now
	d.frameEnded = in.Marker
	ssrc, pt, level := d.ssrc, d.payloadType, d.levelOut
	d.mu.Unlock()

	h := &d.hdrs[l.index]
	setHeader(h, in, pt, seq, ts, ssrc)
	if level != 0 {
		d.carryLevel(h, in, level)
	}
	// Write without holding the lock: pion encrypts and sends here.
	_, _ = w.WriteRTP(h, payload)
	if int16(seq-highest) < 0 {
		d.sentLate(seq, now)
	}
	return rtpFixedHeader + len(payload)
}

// sentLate records that packet seq went out after packets numbered above
// it: the publisher's repair of a packet it lost, which the subscriber
// has most likely asked for already, since it saw the hole first. A NACK
// for it that arrives before the packet can have reached the subscriber
// is not answered (rtxMarks), or the subscriber would get it twice.
func (d *DownTrack) sentLate(seq uint16, now time.Time) {
	d.rtxMu.Lock()
	defer d.rtxMu.Unlock()
	if d.rtxMarks == nil {
		d.rtxMarks = &rtxMarks{}
	}
	d.rtxMarks.allow(seq, now, 0)
}

// carryLevel copies the audio level extension of in, if it has one, to
// out as extension id. It does not allocate once out's extension slice
// has grown to hold one, and out refers to in's bytes until its next use.
func (d *DownTrack) carryLevel(out, in *pionrtp.Header, id uint8) {
	from := d.up.levels.extID.Load()
	if from == 0 {
		return
	}
	if v := in.GetExtension(uint8(from)); len(v) > 0 {
		_ = out.SetExtension(id, v)
	}
}

// audioLevelID is the ID of the audio level extension among exts, or 0.
func audioLevelID(exts []webrtc.RTPHeaderExtensionParameter) uint8 {
	for _, e := range exts {
		if e.URI == sdp.AudioLevelURI && e.ID > 0 && e.ID < 15 {
			return uint8(e.ID)
		}
	}
	return 0
}

// tsGap converts the time since the last forwarded packet into RTP clock
// ticks, so timestamps keep advancing at the real pace across a switch.
func tsGap(elapsed time.Duration, clockRate uint32) uint32 {
	if elapsed <= 0 || elapsed > 10*time.Second {
		return 1
	}
	return max(1, uint32(elapsed.Seconds()*float64(clockRate)))
}

// rtpFixedHeader is the size of an RTP header without CSRCs or
// extensions (RFC 3550, 5.1): a header setHeader made, before the
// subscriber connection adds its extensions.
const rtpFixedHeader = 12

// setHeader fills out from in with the subscriber's identifiers. Header
// extensions are not copied: their IDs were negotiated with the publisher,
// and the subscriber connection adds its own.
func setHeader(out, in *pionrtp.Header, pt uint8, seq uint16, ts, ssrc uint32) {
	out.Version = 2
	out.Padding = false
	out.PaddingSize = 0
	out.Marker = in.Marker
	out.PayloadType = pt
	out.SequenceNumber = seq
	out.Timestamp = ts
	out.SSRC = ssrc
	out.CSRC = out.CSRC[:0]
	out.Extension = false
	out.ExtensionProfile = 0
	out.Extensions = out.Extensions[:0]
}

// handleRTCP acts on what the subscriber sent about this track.
func (d *DownTrack) handleRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			for _, pair := range p.Nacks {
				pair.Range(func(seq uint16) bool {
					d.retransmit(seq)
					return true
				})
			}
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			layer := d.current.Load()
			if layer < 0 {
				layer = d.target.Load()
			}
			d.up.RequestKeyframe(int(layer))
		}
	}
}

// retransmit answers a NACK for an outgoing sequence number from the
// packet cache of the layer being forwarded.
func (d *DownTrack) retransmit(outSeq uint16) {
	d.metrics.NacksReceived.Inc()
	d.mu.Lock()
	inSeq, ok := d.rewriter.Reverse(outSeq)
	padded := !ok && d.rewriter.Padded(outSeq)
	_, lastTS := d.rewriter.LastOut()
	l := d.up.layer(int(d.current.Load()))
	w, ssrc, pt := d.writer, d.ssrc, d.payloadType
	d.mu.Unlock()
	if padded {
		// Probe padding: send it again, so that the receiver's sequence
		// has no hole (a player waiting on it would give the next frame
		// up), though its content does not matter.
		if w != nil {
			d.padMu.Lock()
			d.writePaddingLocked(w, ssrc, pt, outSeq, lastTS)
			d.padMu.Unlock()
		}
		return
	}
	if !ok || w == nil || l == nil {
		d.metrics.RetransmitMisses.Inc()
		return
	}

	hold := rtxHoldMin
	if d.queueDelay != nil {
		hold += max(d.queueDelay(), 0)
	}
	d.rtxMu.Lock()
	defer d.rtxMu.Unlock()
	if d.rtxMarks == nil {
		d.rtxMarks = &rtxMarks{}
	}
	if !d.rtxMarks.allow(outSeq, d.up.now(), hold) {
		return // the last retransmission is still on its way
	}
	n := l.cache.Get(inSeq, d.rtxBuf)
	if n == 0 {
		d.metrics.RetransmitMisses.Inc()
		return
	}
	var in pionrtp.Header
	hl, err := in.Unmarshal(d.rtxBuf[:n])
	if err != nil {
		return
	}
	end := n
	if in.Padding {
		end -= int(d.rtxBuf[n-1])
	}
	if end < hl {
		return
	}
	payload := d.rtxBuf[hl:end]
	d.mu.Lock()
	_, ts := d.rewriter.Rewrite(in.SequenceNumber, in.Timestamp)
	if d.vp8 != nil && len(payload) > 0 {
		payload = d.vp8.Munge(d.rtxOut, payload, false)
	}
	d.mu.Unlock()
	if payload == nil {
		return
	}
	setHeader(&d.rtxHdr, &in, pt, outSeq, ts, ssrc)
	if _, err := w.WriteRTP(&d.rtxHdr, payload); err == nil {
		d.metrics.PacketsRetransmit.Inc()
	}
}
