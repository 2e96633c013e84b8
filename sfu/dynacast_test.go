package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestDynacastPausesUnwantedLayers(t *testing.T) {
	up, _ := testUpTrack(nil) // layer 0 without a RID: not simulcast
	var st dynacastState
	if _, changed := st.update(up, time.Unix(1000, 0)); changed {
		t.Fatal("dynacast for a track without simulcast")
	}

	up = newUpTrack(upTrackParams{id: "TR_s", kind: webrtc.RTPCodecTypeVideo, codec: vp8, cacheSize: 64, keyframeEvery: time.Second,
		sendPLI: func(uint32) {}, now: time.Now, metrics: NewMetrics(nil)})
	for i, rid := range []string{"q", "h", "f"} {
		up.addLayer(i, rid, uint32(100+i))
	}
	d := newDownTrack(up, up.metrics)
	up.addDownTrack(d)
	d.target.Store(1)
	d.current.Store(1)

	st = dynacastState{}
	t0 := time.Unix(1000, 0)
	ev, changed := st.update(up, t0)
	if !changed || !ev.Active["q"] || !ev.Active["h"] || !ev.Active["f"] {
		t.Fatalf("first update: %+v %v; want all on (new layers count as wanted)", ev, changed)
	}
	if _, changed := st.update(up, t0.Add(2*time.Second)); changed {
		t.Fatal("f paused before the hold")
	}
	ev, changed = st.update(up, t0.Add(3*time.Second))
	if !changed || !ev.Active["q"] || !ev.Active["h"] || ev.Active["f"] {
		t.Fatalf("after the hold: %+v %v; want f off", ev, changed)
	}
	if !up.layer(2).paused.Load() {
		t.Error("layer f not marked paused for the allocator")
	}
	// A subscriber wants f again: it comes back at once.
	d.target.Store(2)
	ev, changed = st.update(up, t0.Add(4*time.Second))
	if !changed || !ev.Active["f"] {
		t.Fatalf("f wanted again: %+v %v", ev, changed)
	}
	// Nobody subscribes: everything but q goes off after the hold.
	up.removeDownTrack(d)
	ev, _ = st.update(up, t0.Add(8*time.Second))
	if !ev.Active["q"] || ev.Active["h"] || ev.Active["f"] {
		t.Fatalf("no subscribers: %+v; want only q", ev)
	}
}
