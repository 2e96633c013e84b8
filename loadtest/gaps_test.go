package loadtest

import (
	"testing"
	"time"
)

// TestGaps: a gap runs from the publisher's last packet before the
// disconnect to its first packet, and first keyframe shown, after; it is
// recorded once both came, from the tracks of whichever connection saw
// them, and a publisher the subscriber never received makes no gap.
func TestGaps(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	pub, other := &participant{publisher: true}, &participant{publisher: true, index: 1}
	sub := &participant{}
	r := &loadRun{parts: []*participant{pub, other, sub}, pubIDs: map[string]*participant{"PA_old": pub, "PA_new": pub, "PA_other": other}}

	r.openGapsLocked(sub, at(1000))
	if len(sub.gaps) != 2 {
		t.Fatalf("%d gaps open, want one per publisher of the room", len(sub.gaps))
	}
	// The subscriber's connection that ended: pub's tracks, nothing from other.
	r.checkGapsLocked(sub, map[string]TrackCounts{
		"a": {ParticipantID: "PA_old", Kind: "audio", First: at(0), Last: at(950)},
		"v": {ParticipantID: "PA_old", Kind: "video", First: at(0), Last: at(980), FirstKeyframe: at(40)},
	})
	if len(sub.gaps) != 1 || sub.gaps[pub] == nil {
		t.Fatalf("gaps %v: want pub's only", sub.gaps)
	}
	// A publisher disconnect now keeps the pause that began at 1000.
	r.openGapsLocked(pub, at(1500))
	if g := sub.gaps[pub]; !g.since.Equal(at(1000)) {
		t.Errorf("gap since %v, want the first disconnect's", g.since)
	}
	// The new connection: media first, the keyframe shown later.
	tracks := map[string]TrackCounts{
		"a": {ParticipantID: "PA_new", Kind: "audio", First: at(2300), Last: at(2400)},
		"v": {ParticipantID: "PA_new", Kind: "video", First: at(2280), Last: at(2400)},
	}
	r.checkGapsLocked(sub, tracks)
	if len(sub.rc.MediaGapMS) != 0 || unresumedLocked(sub) != 1 {
		t.Fatalf("recorded %v before the keyframe was shown", sub.rc.MediaGapMS)
	}
	v := tracks["v"]
	v.FirstKeyframe = at(2330)
	tracks["v"] = v
	r.checkGapsLocked(sub, tracks)
	if len(sub.gaps) != 0 || len(sub.rc.MediaGapMS) != 1 || sub.rc.MediaGapMS[0] != 1300 || sub.rc.VideoGapMS[0] != 1350 {
		t.Errorf("media gap %v, video gap %v ms, open %d; want 1300 (980 to 2280), 1350, none", sub.rc.MediaGapMS, sub.rc.VideoGapMS, len(sub.gaps))
	}
}
