package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
)

// layerOfFrame tells which simulcast layer a received frame came from by
// its size (the test publisher makes each layer's frames a different size).
func layerOfFrame(m loadtest.Media, size int) int {
	best, bestDiff := -1, 1<<30
	for i := 0; i < 3; i++ {
		diff := size - m.LayerFrameBytes(i)
		if diff < 0 {
			diff = -diff
		}
		if diff < bestDiff {
			best, bestDiff = i, diff
		}
	}
	return best
}

// videoTrackID finds the ID of the video track c receives from publisher id.
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

// TestSimulcastLayerSwitch publishes three layers: a subscriber gets the
// top one, then the lowest after capping it with set_layer, then the top
// one again, and its stream stays continuous (nothing missing, a keyframe
// at every switch).
func TestSimulcastLayerSwitch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	media := loadtest.DefaultMedia
	media.Simulcast = true
	media.KeyframeEvery = time.Hour // only keyframes the SFU asks for

	pub, sub := ts.join(ctx, "simulcast"), ts.join(ctx, "simulcast")
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}
	track := videoTrackID(ctx, t, sub, pub.Self.ID)
	receivesFrom(t, sub, pub.Self.ID, 10)

	for _, step := range []struct{ cap, want int }{{2, 2}, {0, 0}, {1, 1}, {2, 2}} {
		if err := sub.Send(map[string]any{"type": "set_layer", "trackId": track, "maxLayer": step.cap}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var v loadtest.TrackCounts
		eventually(t, 5*time.Second, "frames of layer "+string(rune('0'+step.want)), func() bool {
			v, _ = videoFrom(sub, pub.Self.ID)
			return layerOfFrame(media, v.LastFrameSize) == step.want
		})
		// A few more frames on the new layer, then judge continuity.
		frames := v.Frames
		eventually(t, 5*time.Second, "frames to keep coming", func() bool {
			v, _ = videoFrom(sub, pub.Self.ID)
			return v.Frames >= frames+10
		})
		t.Logf("cap %d: layer %d after %v; %d frames, %d keyframes, %d missing, %d duplicates",
			step.cap, step.want, time.Since(start).Round(time.Millisecond), v.Frames, v.Keyframes, v.Missing, v.Duplicates)
		if v.Missing != 0 || v.Duplicates != 0 {
			t.Errorf("stream not continuous across the switch: %d missing, %d duplicates", v.Missing, v.Duplicates)
		}
	}
	v, _ := videoFrom(sub, pub.Self.ID)
	if v.Keyframes < 4 {
		t.Errorf("%d keyframes for 3 switches and the start", v.Keyframes)
	}
	// Three asked for, plus one at the start when the subscriber began on
	// the first layer to arrive and moved up once the others did.
	if n := testutil.ToFloat64(ts.metrics.LayerSwitches); n < 3 || n > 4 {
		t.Errorf("layer switches metric = %v, want 3 or 4", n)
	}
	// A cap on a track the subscriber does not receive is refused.
	if err := sub.Send(map[string]any{"type": "set_layer", "trackId": "TR_nope", "maxLayer": 0}); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" }); err != nil || m.Code != "unknown_track" {
		t.Errorf("set_layer for an unknown track: %+v %v", m, err)
	}
}

// TestDynacast checks that a publisher is told to stop encoding the
// layers nobody receives, and to resume one as soon as it is wanted.
func TestDynacast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	media := loadtest.DefaultMedia
	media.Simulcast = true
	pub, sub := ts.join(ctx, "dynacast"), ts.join(ctx, "dynacast")
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}
	track := videoTrackID(ctx, t, sub, pub.Self.ID)
	receivesFrom(t, sub, pub.Self.ID, 10)
	if err := sub.Send(map[string]any{"type": "set_layer", "trackId": track, "maxLayer": 0}); err != nil {
		t.Fatal(err)
	}
	capped := time.Now()
	m, err := pub.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "layers" && m.TrackID == track && !m.Layers["f"] && !m.Layers["h"]
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("publisher told %v %v after the cap", m.Layers, time.Since(capped).Round(time.Millisecond))
	if !m.Layers["q"] {
		t.Errorf("the lowest layer was turned off: %v", m.Layers)
	}
	if time.Since(capped) < 2*time.Second {
		t.Errorf("layers turned off after %v, before the 3 s hold", time.Since(capped))
	}
	// Take every layers message so far, so that only a new one can match below.
	for {
		drain, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		_, err := pub.WaitFor(drain, func(m loadtest.Message) bool { return m.Type == "layers" })
		cancel()
		if err != nil {
			break
		}
	}
	if err := sub.Send(map[string]any{"type": "set_layer", "trackId": track, "maxLayer": 2}); err != nil {
		t.Fatal(err)
	}
	raised := time.Now()
	if _, err := pub.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "layers" && m.TrackID == track && m.Layers["f"]
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("top layer resumed %v after it was wanted", time.Since(raised).Round(time.Millisecond))
}
