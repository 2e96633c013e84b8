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
