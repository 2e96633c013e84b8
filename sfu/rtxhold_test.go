package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestDownTrackRetransmitsOncePerRoundTrip: a NACK repeated before the
// last retransmission of the packet can have arrived (rtxHoldMin plus the
// link's queue) is not answered again; one after it is, and other packets
// are not held.
func TestDownTrackRetransmitsOncePerRoundTrip(t *testing.T) {
	now := time.Unix(1000, 0)
	up, l := testUpTrack(nil)
	up.now = func() time.Time { return now }
	w := &discard{keep: true}
	d := bindDownTrack(t, up, 777, 96, w)
	queue := time.Duration(0)
	d.queueDelay = func() time.Duration { return queue }
	var hdr inPacket
	for i := 0; i < 5; i++ {
		up.forward(l, vp8Packet(uint16(100+i), uint32(i)*3000, i == 0, 100), &hdr, false)
	}
	a, b := w.seqs[1], w.seqs[2]
	nack := func(seq uint16) bool {
		before := w.packets
		d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: seq}}}})
		return w.packets > before
	}
	steps := []struct {
		after time.Duration
		queue time.Duration
		seq   uint16
		sent  bool
	}{
		{0, 0, a, true},
		{20 * time.Millisecond, 0, a, false}, // asked again before it could arrive
		{0, 0, b, true},                      // another packet
		{rtxHoldMin, 0, a, true},
		{rtxHoldMin, 300 * time.Millisecond, a, false}, // the link queues 300 ms
		{300 * time.Millisecond, 300 * time.Millisecond, a, true},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		queue = s.queue
		if got := nack(s.seq); got != s.sent {
			t.Errorf("step %d: NACK for %d %v later with a %v queue: retransmitted %v, want %v", i, s.seq, s.after, s.queue, got, s.sent)
		}
	}
}

// TestDownTrackLateRepairNotSentTwice: the publisher's repair of a packet
// it lost arrives after later packets and is forwarded; the subscriber's
// NACK for that hole, sent before the repair reached it, is not answered
// with a second copy, while a NACK after the hold is.
func TestDownTrackLateRepairNotSentTwice(t *testing.T) {
	now := time.Unix(1000, 0)
	up, l := testUpTrack(nil)
	up.now = func() time.Time { return now }
	w := &discard{keep: true}
	d := bindDownTrack(t, up, 777, 96, w)
	d.queueDelay = func() time.Duration { return 0 }
	var hdr inPacket
	for _, seq := range []uint16{100, 101, 103, 104} {
		up.forward(l, vp8Packet(seq, uint32(seq-100)*3000, seq == 100, 100), &hdr, false)
	}
	up.forward(l, vp8Packet(102, 2*3000, false, 100), &hdr, true) // the repair
	if len(w.seqs) != 5 {
		t.Fatalf("forwarded %d packets, want 5", len(w.seqs))
	}
	late := w.seqs[4]
	nack := func() bool {
		before := w.packets
		d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: late}}}})
		return w.packets > before
	}
	now = now.Add(5 * time.Millisecond)
	if nack() {
		t.Errorf("a NACK 5 ms after the repair went out was answered: the subscriber gets it twice")
	}
	now = now.Add(rtxHoldMin)
	if !nack() {
		t.Errorf("a NACK %v after the repair went out was not answered", rtxHoldMin+5*time.Millisecond)
	}
}
