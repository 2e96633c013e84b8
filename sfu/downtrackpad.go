package sfu

import "github.com/pion/webrtc/v4"

// Probe padding on a subscriber's track (see bandwidthcontrol.go).

// paddingSize is the padding carried by one probe packet: the most one
// packet's padding count can say.
const paddingSize = 255

// canPad reports whether the track can carry probe padding: it is video
// and has forwarded. A track paused for bandwidth pads too: it is the
// subscriber's way back, since only a probe that gets through raises an
// estimate held under the rate that last congested the link.
func (d *DownTrack) canPad() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.up.kind == webrtc.RTPCodecTypeVideo && d.writer != nil && d.rewriter.Started()
}

// writePadding sends up to n padding-only packets on the media stream and
// returns how many it sent and their bytes of RTP. Receivers discard them;
// the transport-wide feedback about them tells the bandwidth estimator
// whether the link carries more.
//
// The padding goes on the media SSRC, as libwebrtc pads without RTX,
// rather than on the RTX SSRC: libwebrtc addresses each transport-wide
// feedback packet to the SSRC of the last packet it received, and pion
// drops RTCP for an RTX SSRC, acknowledgements of media included.
//
// It pads only between frames, since the padding takes sequence numbers a
// frame's packets must not straddle; at other times it sends nothing.
func (d *DownTrack) writePadding(n int) (packets, bytes int) {
	d.mu.Lock()
	w, ssrc, pt := d.writer, d.ssrc, d.payloadType
	var first uint16
	var ts uint32
	ok := false
	if w != nil && d.frameEnded {
		first, ts, ok = d.rewriter.Pad(n)
	}
	d.mu.Unlock()
	if !ok {
		return 0, 0
	}
	d.padMu.Lock()
	defer d.padMu.Unlock()
	// Write without holding mu: pion encrypts and sends here. A packet
	// not sent leaves a hole, which the subscriber may NACK; retransmit
	// knows it was padding.
	for i := range n {
		b, err := d.writePaddingLocked(w, ssrc, pt, first+uint16(i), ts)
		if err != nil {
			break
		}
		packets++
		bytes += b
	}
	return packets, bytes
}

// writePaddingLocked writes one padding-only packet and returns its RTP
// size. The caller holds padMu.
func (d *DownTrack) writePaddingLocked(w webrtc.TrackLocalWriter, ssrc uint32, pt uint8, seq uint16, ts uint32) (int, error) {
	h := &d.padHdr
	h.Version, h.Padding, h.PaddingSize, h.Marker = 2, true, paddingSize, false
	h.PayloadType, h.Timestamp, h.SSRC, h.SequenceNumber = pt, ts, ssrc, seq
	h.Extension, h.ExtensionProfile, h.Extensions = false, 0, h.Extensions[:0]
	if _, err := w.WriteRTP(h, nil); err != nil {
		return 0, err
	}
	return h.MarshalSize() + paddingSize, nil
}
