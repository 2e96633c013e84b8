package loadtest

import (
	"context"
	"testing"
	"time"
)

// TestSRTPTap: through a real SFU, a subscriber's media reaches its
// receiver through the tap, which takes the keys of its DTLS connection
// from pion, and nothing is lost or counted twice on the way.
func TestSRTPTap(t *testing.T) {
	s := loadSamplesT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := startSampleTestServer(t)
	pub := ts.join(ctx, t, "tap")
	if err := pub.Publish(Media{Samples: s, Audio: true, Simulcast: true}); err != nil {
		t.Fatal(err)
	}
	sub := ts.join(ctx, t, "tap")
	video, audio := waitForMedia(ctx, t, sub, pub.Self.ID, func(video, audio TrackCounts) bool {
		return video.Frames >= 90 && audio.Packets >= 100
	})
	tap := sub.recv.tap
	tap.mu.Lock()
	taken, keyed := tap.taken, tap.ctx != nil
	tap.mu.Unlock()
	if !keyed {
		t.Fatal("the tap has no keys: the DTLS connection was not reachable (a pion release that moved it?)")
	}
	// All but the first packets of each stream, which pion reads to make
	// the track, and those already on their way through pion.
	if total := video.Packets + audio.Packets; taken < total*9/10 {
		t.Errorf("the tap took %d of %d packets", taken, total)
	}
	if video.Duplicates != 0 || video.Unrepaired != 0 || video.Keyframes == 0 || audio.Duplicates != 0 || audio.Unrepaired != 0 {
		t.Errorf("video %+v, audio %+v: want no duplicates, nothing lost, a keyframe", video, audio)
	}
	t.Logf("the tap took %d of %d packets", taken, video.Packets+audio.Packets)
}
