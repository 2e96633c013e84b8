package sfu

import (
	"slices"
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

// TestKeyframeRequestsShared: once a publisher is seen to send keyframes
// on all its layers at once, a request for one layer stands for all of
// them within the interval; a publisher that keyframes one layer at a
// time keeps a throttle per layer.
func TestKeyframeRequestsShared(t *testing.T) {
	for _, together := range []bool{true, false} {
		name := "layer by layer"
		if together {
			name = "all layers at once"
		}
		t.Run(name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			var plis []uint32
			u := newUpTrack(upTrackParams{
				id: "TR_sim", publisherID: "PA_pub", kind: webrtc.RTPCodecTypeVideo, codec: vp8,
				cacheSize: 1024, keyframeEvery: 500 * time.Millisecond,
				sendPLI: func(ssrc uint32) { plis = append(plis, ssrc) },
				now:     func() time.Time { return now },
				metrics: NewMetrics(nil),
			})
			var layers []*layer
			for i, rid := range []string{"q", "h", "f"} {
				l, _ := u.addLayer(i, rid, uint32(i+1))
				layers = append(layers, l)
			}
			var hdr inPacket
			seq := uint16(100)
			send := func(l *layer, ts uint32, key bool) {
				u.forward(l, simulcastPacket(l.ssrc, seq, ts, key), &hdr, false)
				seq++
			}
			// Every layer starts with a keyframe: no evidence either way.
			for _, l := range layers {
				send(l, 3000, true)
			}
			if u.together.Load() {
				t.Fatal("the first keyframes of the layers counted as made together")
			}
			now = now.Add(time.Second)
			if together {
				for _, l := range layers {
					send(l, 93000, true)
				}
			} else {
				send(layers[0], 93000, true)
				now = now.Add(100 * time.Millisecond)
				for _, l := range layers {
					send(l, 102000, false)
				}
				send(layers[2], 102000, true)
			}
			if u.together.Load() != together {
				t.Fatalf("together = %v, want %v", u.together.Load(), together)
			}

			now = now.Add(time.Second)
			plis = nil
			u.RequestKeyframe(0)
			u.RequestKeyframe(2)
			u.RequestKeyframe(1)
			want := []uint32{1, 3, 2}
			if together {
				want = []uint32{1}
			}
			if !slices.Equal(plis, want) {
				t.Fatalf("requests for layers 0, 2, 1 within the interval sent PLIs for %v, want %v", plis, want)
			}
			now = now.Add(501 * time.Millisecond)
			plis = nil
			u.RequestKeyframe(2)
			if !slices.Equal(plis, []uint32{3}) {
				t.Fatalf("a request for layer 2 after the interval sent %v, want [3]", plis)
			}
		})
	}
}
