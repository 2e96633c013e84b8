package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// simulcastPacket is vp8Packet on the given SSRC.
func simulcastPacket(ssrc uint32, seq uint16, ts uint32, key bool) []byte {
	b := vp8Packet(seq, ts, key, 100)
	b[8], b[9], b[10], b[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
	return b
}

// TestDownTrackDropTo steps a subscriber down from layer 2 to layer 0 at
// once: nothing more of layer 2 goes out, a keyframe of layer 0 is asked
// for at once (past the throttle), and layer 0 starts at its keyframe
// with the outgoing sequence continuing where layer 2 left it.
func TestDownTrackDropTo(t *testing.T) {
	var plis []uint32
	u := newUpTrack(upTrackParams{
		id: "TR_sim", publisherID: "PA_pub", kind: webrtc.RTPCodecTypeVideo, codec: vp8,
		cacheSize: 1024, keyframeEvery: time.Hour,
		sendPLI: func(ssrc uint32) { plis = append(plis, ssrc) },
		now:     time.Now, metrics: NewMetrics(nil),
	})
	low, _ := u.addLayer(0, "q", 1)
	high, _ := u.addLayer(2, "f", 3)
	var hdr inPacket
	// Both layers flowing before the subscriber arrives.
	u.forward(low, simulcastPacket(1, 100, 9000, true), &hdr, false)
	u.forward(high, simulcastPacket(3, 500, 9000, true), &hdr, false)

	w := &discard{keep: true}
	d := bindDownTrack(t, u, 777, 96, w)
	u.forward(high, simulcastPacket(3, 501, 12000, true), &hdr, false)
	u.forward(high, simulcastPacket(3, 502, 15000, false), &hdr, false)
	if cur, _ := d.Layers(); cur != 2 || w.packets != 2 {
		t.Fatalf("before the drop: layer %d, %d packets forwarded; want layer 2, 2 packets", cur, w.packets)
	}

	plis = nil
	d.dropTo(0)
	if len(plis) != 1 || plis[0] != 1 {
		t.Fatalf("dropTo(0) sent keyframe requests for %v, want one for SSRC 1 (the layer's throttle was spent)", plis)
	}
	if cur, target := d.Layers(); cur != -1 || target != 0 {
		t.Fatalf("after dropTo(0): current %d target %d, want -1 and 0", cur, target)
	}
	u.forward(high, simulcastPacket(3, 503, 18000, false), &hdr, false)
	u.forward(low, simulcastPacket(1, 101, 18000, false), &hdr, false)
	if w.packets != 2 {
		t.Fatalf("%d packets forwarded between the drop and layer 0's keyframe, want none", w.packets-2)
	}
	u.forward(low, simulcastPacket(1, 102, 21000, true), &hdr, false)
	u.forward(high, simulcastPacket(3, 504, 21000, true), &hdr, false)
	u.forward(low, simulcastPacket(1, 103, 24000, false), &hdr, false)
	if w.packets != 4 {
		t.Fatalf("forwarded %d packets from layer 0's keyframe on, want 2", w.packets-2)
	}
	if cur, _ := d.Layers(); cur != 0 {
		t.Errorf("forwarding layer %d after layer 0's keyframe, want 0", cur)
	}
	if w.seqs[2] != w.seqs[1]+1 || w.seqs[3] != w.seqs[1]+2 {
		t.Errorf("outgoing sequence numbers %v: not continuous across the drop", w.seqs)
	}
}
