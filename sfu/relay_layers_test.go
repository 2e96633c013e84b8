package sfu_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// layerOfFrame tells which simulcast layer a received frame came from by
// its size (the test publisher makes each layer's frames a different size).
func layerOfFrame(m loadtest.Media, size int) int {
	best, bestDiff := -1, 1<<30
	for i := range sfu.MaxLayers {
		diff := max(size-m.LayerFrameBytes(i), m.LayerFrameBytes(i)-size)
		if diff < bestDiff {
			best, bestDiff = i, diff
		}
	}
	return best
}

// videoTrackID is the ID of the video track c was told publisher id has.
func videoTrackID(ctx context.Context, t *testing.T, c *loadtest.Client, id string) string {
	t.Helper()
	for _, p := range c.Joined.Participants {
		for _, tr := range p.Tracks {
			if p.ID == id && tr.Kind == "video" {
				return tr.ID
			}
		}
	}
	m, err := c.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "track_published" && m.ParticipantID == id && m.Track != nil && m.Track.Kind == "video"
	})
	if err != nil {
		t.Fatalf("no video track from %s: %v", id, err)
	}
	return m.Track.ID
}

// TestRelaySimulcastLayerSwitch publishes three layers on node A: the
// relay carries each as its own stream, and a subscriber on node B is
// switched between them as on one node: the top layer, then the lowest
// after capping it, then the others, its stream continuous throughout.
func TestRelaySimulcastLayerSwitch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})
	media := loadtest.DefaultMedia
	media.Simulcast = true
	media.KeyframeEvery = time.Hour // only keyframes the SFUs ask for

	pub, sub := a.join(ctx, "simulcast"), b.join(ctx, "simulcast")
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}
	relay := openRelay(t, a.sfu, b.sfu, "simulcast", nil)
	track := videoTrackID(ctx, t, sub, pub.Self.ID)
	receivesFrom(t, sub, pub.Self.ID, 10)

	for _, step := range []struct{ cap, want int }{{2, 2}, {0, 0}, {1, 1}, {2, 2}} {
		if err := sub.Send(map[string]any{"type": "set_layer", "trackId": track, "maxLayer": step.cap}); err != nil {
			t.Fatal(err)
		}
		var v loadtest.TrackCounts
		eventually(t, 10*time.Second, "frames of layer "+string(rune('0'+step.want)), func() bool {
			v, _ = trackFrom(sub, pub.Self.ID, "video")
			return layerOfFrame(media, v.LastFrameSize) == step.want
		})
		frames := v.Frames
		eventually(t, 5*time.Second, "frames to keep coming", func() bool {
			v, _ = trackFrom(sub, pub.Self.ID, "video")
			return v.Frames >= frames+10
		})
		t.Logf("cap %d: %d frames, %d keyframes, %d missing, %d duplicates", step.cap, v.Frames, v.Keyframes, v.Missing, v.Duplicates)
		if v.Missing != 0 || v.Duplicates != 0 {
			t.Errorf("stream not continuous across the switch: %d missing, %d duplicates", v.Missing, v.Duplicates)
		}
	}
	// The video crossed as three streams, with their RIDs.
	var layers []sfu.RelayLayer
	for _, m := range relay.ab.messages() {
		if m.Kind == sfu.RelayTrack && m.Track.ID == track {
			layers = m.Track.Layers
		}
	}
	if len(layers) != 3 || layers[0].RID != "q" || layers[1].RID != "h" || layers[2].RID != "f" {
		t.Errorf("the video's last description: %+v, want the three layers q, h, f", layers)
	}
}

// TestRelayRepairsLosses loses one video packet in twenty on the relay's
// link from node A to node B: B's NACKs reach A, which answers them from
// its packet cache, and B's subscriber ends up with every packet.
func TestRelayRepairsLosses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	metrics := sfu.NewMetrics(nil)
	a, b := newTestNode(t, sfu.Options{Metrics: metrics}), newTestNode(t, sfu.Options{})
	pub, sub := a.join(ctx, "lossy"), b.join(ctx, "lossy")
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	path := newLossyPath(t, func(seq uint16) bool { return seq%20 == 0 })
	openRelay(t, a.sfu, b.sfu, "lossy", path.edit)
	receivesFrom(t, sub, pub.Self.ID, 30)

	var v loadtest.TrackCounts
	eventually(t, 20*time.Second, "500 packets past the settle window", func() bool {
		v, _ = trackFrom(sub, pub.Self.ID, "video")
		return v.Unique > 500+loadtest.SettleWindow
	})
	retransmitted := testutil.ToFloat64(metrics.PacketsRetransmit)
	t.Logf("%d packets, %d unique, %d missing now, %d unrepaired, %d duplicates; %d lost on the link, %v retransmitted by A",
		v.Packets, v.Unique, v.Missing, v.Unrepaired, v.Duplicates, path.lost.Load(), retransmitted)
	if path.lost.Load() < int64(v.Unique)/40 {
		t.Fatalf("the link lost %d packets of %d: the test does not test", path.lost.Load(), v.Unique)
	}
	if v.Unrepaired != 0 {
		t.Errorf("%d packets lost for good; every one should have been repaired", v.Unrepaired)
	}
	if retransmitted < float64(path.lost.Load())/2 {
		t.Errorf("A retransmitted %v packets for %d lost", retransmitted, path.lost.Load())
	}
}

// TestRelayDynacast: a layer nobody on the importing node receives stops
// crossing the relay, and the publisher is told to stop encoding it when
// nobody on its own node does either; wanted again, it crosses again.
func TestRelayDynacast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})
	media := loadtest.DefaultMedia
	media.Simulcast = true
	pub, sub := a.join(ctx, "dynacast"), b.join(ctx, "dynacast")
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}
	path := newLossyPath(t, nil)
	relay := openRelay(t, a.sfu, b.sfu, "dynacast", path.edit)
	track := videoTrackID(ctx, t, sub, pub.Self.ID)
	receivesFrom(t, sub, pub.Self.ID, 10)
	ssrcs := map[string]uint32{}
	eventually(t, 10*time.Second, "the three layers described", func() bool {
		for _, m := range relay.ab.messages() {
			if m.Kind == sfu.RelayTrack && m.Track.ID == track {
				for _, l := range m.Track.Layers {
					ssrcs[l.RID] = l.SSRC
				}
			}
		}
		return len(ssrcs) == 3
	})
	eventually(t, 10*time.Second, "the top layer crossing", func() bool { return path.carried(ssrcs["f"]) > 50 })

	if err := sub.Send(map[string]any{"type": "set_layer", "trackId": track, "maxLayer": 0}); err != nil {
		t.Fatal(err)
	}
	told := func(m loadtest.Message, h, f bool) bool {
		return m.Type == "layers" && m.TrackID == track && m.Layers["q"] && m.Layers["h"] == h && m.Layers["f"] == f
	}
	if _, err := pub.WaitFor(ctx, func(m loadtest.Message) bool { return told(m, false, false) }); err != nil {
		t.Fatalf("the publisher was not told to stop its upper layers: %v", err)
	}
	asked := false
	for _, m := range relay.ba.messages() {
		asked = asked || (m.Kind == sfu.RelayLayers && m.TrackID == track && !m.Active["f"] && !m.Active["h"] && m.Active["q"])
	}
	if !asked {
		t.Errorf("B never asked A for the lowest layer alone: %+v", relay.ba.messages())
	}
	// The upper layers no longer cross; the lowest does.
	var f, q int
	eventually(t, 5*time.Second, "the upper layers to stop crossing", func() bool {
		f0, h0, q0 := path.carried(ssrcs["f"]), path.carried(ssrcs["h"]), path.carried(ssrcs["q"])
		time.Sleep(500 * time.Millisecond)
		f, q = path.carried(ssrcs["f"]), path.carried(ssrcs["q"])
		return f == f0 && path.carried(ssrcs["h"]) == h0 && q > q0
	})
	t.Logf("the top layer stopped crossing after %d packets", f)

	if err := sub.Send(map[string]any{"type": "set_layer", "trackId": track, "maxLayer": 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.WaitFor(ctx, func(m loadtest.Message) bool { return told(m, true, true) }); err != nil {
		t.Fatalf("the publisher was not told to resume its layers: %v", err)
	}
	eventually(t, 10*time.Second, "frames of the top layer on B", func() bool {
		v, _ := trackFrom(sub, pub.Self.ID, "video")
		return layerOfFrame(media, v.LastFrameSize) == 2 && path.carried(ssrcs["f"]) > f
	})
}
