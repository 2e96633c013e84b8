package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recorder keeps every header written.
type recorder struct {
	discard
	hdrs []pionrtp.Header
	lens []int
}

func (r *recorder) WriteRTP(h *pionrtp.Header, payload []byte) (int, error) {
	r.hdrs = append(r.hdrs, *h)
	r.lens = append(r.lens, len(payload))
	return r.discard.WriteRTP(h, payload)
}

// framePacket is vp8Packet with the marker bit set only if last.
func framePacket(seq uint16, ts uint32, key, last bool) []byte {
	b := vp8Packet(seq, ts, key, 100)
	if !last {
		b[1] &^= 0x80
	}
	return b
}

// TestDownTrackPadsOnTheMediaStream probes with padding between frames:
// it takes the media SSRC and payload type and the next sequence numbers,
// later packets follow it, a late packet keeps its number, and a NACK for
// padding is answered with nothing and counts no miss.
func TestDownTrackPadsOnTheMediaStream(t *testing.T) {
	up, l := testUpTrack(nil)
	w := &recorder{}
	d := bindDownTrack(t, up, 777, 96, w)
	var hdr inPacket
	if d.canPad() {
		t.Fatal("canPad before anything was forwarded")
	}
	up.forward(l, framePacket(10, 9000, true, false), &hdr, false)
	if !d.canPad() {
		t.Fatal("canPad = false while forwarding")
	}
	if n, _ := d.writePadding(3); n != 0 {
		t.Fatalf("padded %d packets inside a frame", n)
	}
	up.forward(l, framePacket(12, 9000, true, true), &hdr, false) // 11 is late
	base := w.hdrs[0].SequenceNumber
	n, bytes := d.writePadding(3)
	if n != 3 || bytes < 3*(12+paddingSize) {
		t.Fatalf("writePadding(3) = %d packets, %d bytes", n, bytes)
	}
	for i, h := range w.hdrs[2:5] {
		if h.SSRC != 777 || h.PayloadType != 96 || !h.Padding || h.PaddingSize != paddingSize ||
			h.Marker || w.lens[2+i] != 0 || h.Timestamp != w.hdrs[1].Timestamp || h.SequenceNumber != base+3+uint16(i) {
			t.Errorf("padding %d: %+v, payload %d", i, h, w.lens[2+i])
		}
	}
	up.forward(l, framePacket(11, 9000, true, false), &hdr, false)
	up.forward(l, framePacket(13, 12000, false, true), &hdr, false)
	if got := w.hdrs[5].SequenceNumber; got != base+1 {
		t.Errorf("late packet -> %d, want %d", got, base+1)
	}
	if got := w.hdrs[6].SequenceNumber; got != base+6 {
		t.Errorf("packet after the padding -> %d, want %d", got, base+6)
	}

	misses := testutil.ToFloat64(up.metrics.RetransmitMisses)
	// A NACK for padding is answered with padding of the same numbers, so
	// that the receiver's sequence has no hole; it is no miss.
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: base + 3, LostPackets: 0b11}}}})
	if len(w.hdrs) != 10 {
		t.Fatalf("NACK for 3 padding packets answered with %d packets", len(w.hdrs)-7)
	}
	for i, h := range w.hdrs[7:10] {
		if !h.Padding || w.lens[7+i] != 0 || h.SequenceNumber != base+3+uint16(i) {
			t.Errorf("padding resent for a NACK: %+v, payload %d", h, w.lens[7+i])
		}
	}
	if m := testutil.ToFloat64(up.metrics.RetransmitMisses); m != misses {
		t.Errorf("NACK for padding counted %v misses", m-misses)
	}
	// The late packet counts as just sent: a NACK for it is answered once
	// it can have arrived (rtxHoldMin later).
	later := time.Now().Add(time.Second)
	up.now = func() time.Time { return later }
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: base + 1}, {PacketID: base + 6}}}})
	if len(w.hdrs) != 12 || w.hdrs[10].SequenceNumber != base+1 || w.hdrs[11].SequenceNumber != base+6 || w.lens[10] == 0 || w.lens[11] == 0 {
		t.Fatalf("NACKs for media around the padding answered with %+v", w.hdrs[10:])
	}
}

// TestDownTrackPadsWhilePaused: a video track paused for bandwidth still
// carries probe padding, numbered on from what it sent, and the keyframe
// that resumes it follows the padding.
func TestDownTrackPadsWhilePaused(t *testing.T) {
	up, l := testUpTrack(nil)
	w := &recorder{}
	d := bindDownTrack(t, up, 777, 96, w)
	var hdr inPacket
	up.forward(l, framePacket(10, 9000, true, true), &hdr, false)
	base := w.hdrs[0].SequenceNumber
	d.SetTarget(-1)
	up.forward(l, framePacket(11, 12000, false, true), &hdr, false)
	if len(w.hdrs) != 1 {
		t.Fatalf("%d packets forwarded while paused", len(w.hdrs)-1)
	}
	if !d.canPad() {
		t.Fatal("canPad = false while paused")
	}
	if n, _ := d.writePadding(2); n != 2 {
		t.Fatalf("padded %d packets while paused, want 2", n)
	}
	for i, h := range w.hdrs[1:3] {
		if !h.Padding || h.SequenceNumber != base+1+uint16(i) {
			t.Errorf("padding %d while paused: %+v", i, h)
		}
	}
	d.SetTarget(0)
	up.forward(l, framePacket(12, 15000, true, true), &hdr, false)
	if len(w.hdrs) != 4 || w.hdrs[3].Padding || w.hdrs[3].SequenceNumber != base+3 {
		t.Fatalf("after resuming: %+v, want the keyframe as %d", w.hdrs[3:], base+3)
	}
}
