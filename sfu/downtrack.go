package sfu

import (
	"math/rand/v2"
	"sync"

	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// DownTrack sends one UpTrack to one subscriber. It is our own
// webrtc.TrackLocal: pion tells it the negotiated SSRC, payload type and
// write stream in Bind, and it rewrites every forwarded packet's header so
// the subscriber sees one continuous stream whatever happens upstream.
type DownTrack struct {
	up       *UpTrack
	streamID string // the publisher's participant ID
	metrics  *Metrics

	mu           sync.Mutex // guards the fields below
	writer       webrtc.TrackLocalWriter
	ssrc         uint32
	payloadType  uint8
	rewriter     *rtp.Rewriter
	waitKeyframe bool

	// hdr is the header written for forwarded packets. Only the UpTrack's
	// reader goroutine touches it, so it needs no lock.
	hdr pionrtp.Header

	rtxMu  sync.Mutex // guards rtxBuf and rtxHdr, used to answer NACKs
	rtxBuf []byte
	rtxHdr pionrtp.Header
}

func newDownTrack(up *UpTrack, metrics *Metrics) *DownTrack {
	return &DownTrack{
		up:       up,
		streamID: up.publisherID,
		metrics:  metrics,
		rewriter: rtp.NewRewriter(uint16(rand.Uint32()), rand.Uint32()),
		rtxBuf:   make([]byte, 1500),
	}
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
		return webrtc.RTPCodecParameters{}, ErrUnsupportedCodec
	}
	d.mu.Lock()
	d.writer = ctx.WriteStream()
	d.ssrc = uint32(ctx.SSRC())
	d.payloadType = uint8(codec.PayloadType)
	d.waitKeyframe = d.up.kind == webrtc.RTPCodecTypeVideo
	d.mu.Unlock()
	d.up.RequestKeyframe()
	return codec, nil
}

// Unbind is called by pion when the track is removed from the connection.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.writer = nil
	d.mu.Unlock()
	return nil
}

// writeRTP forwards one packet. It runs on the UpTrack's reader goroutine
// and must not allocate.
func (d *DownTrack) writeRTP(in *pionrtp.Header, payload []byte, keyframe bool) {
	d.mu.Lock()
	w := d.writer
	if w == nil {
		d.mu.Unlock()
		return
	}
	if d.waitKeyframe {
		if !keyframe {
			// A decoder cannot start from a delta frame: drop until the
			// keyframe we asked for arrives, asking again if it is late.
			d.mu.Unlock()
			d.up.RequestKeyframe()
			return
		}
		d.waitKeyframe = false
	}
	seq, ts := d.rewriter.Rewrite(in.SequenceNumber, in.Timestamp)
	ssrc, pt := d.ssrc, d.payloadType
	d.mu.Unlock()

	setHeader(&d.hdr, in, pt, seq, ts, ssrc)
	// Write without holding the lock: pion encrypts and sends here.
	_, _ = w.WriteRTP(&d.hdr, payload)
}

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
			d.up.RequestKeyframe()
		}
	}
}

// retransmit answers a NACK for an outgoing sequence number from the
// UpTrack's packet cache.
func (d *DownTrack) retransmit(outSeq uint16) {
	d.metrics.NacksReceived.Inc()
	d.mu.Lock()
	inSeq, ok := d.rewriter.Reverse(outSeq)
	w, ssrc, pt := d.writer, d.ssrc, d.payloadType
	d.mu.Unlock()
	if !ok || w == nil {
		d.metrics.RetransmitMisses.Inc()
		return
	}

	d.rtxMu.Lock()
	defer d.rtxMu.Unlock()
	n := d.up.cache.Get(inSeq, d.rtxBuf)
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
	d.mu.Lock()
	_, ts := d.rewriter.Rewrite(in.SequenceNumber, in.Timestamp)
	d.mu.Unlock()
	setHeader(&d.rtxHdr, &in, pt, outSeq, ts, ssrc)
	if _, err := w.WriteRTP(&d.rtxHdr, d.rtxBuf[hl:end]); err == nil {
		d.metrics.PacketsRetransmit.Inc()
	}
}
