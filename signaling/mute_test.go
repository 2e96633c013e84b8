package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

// TestMuteIsAnnounced checks that muting reaches the others as
// track_muted, and that a late joiner learns the muted state from joined.
func TestMuteIsAnnounced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a, b := ts.join(ctx, "mute"), ts.join(ctx, "mute")
	if err := a.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	receivesFrom(t, b, a.Self.ID, 5)

	if err := a.Send(map[string]any{"type": "mute", "kind": "video", "muted": true}); err != nil {
		t.Fatal(err)
	}
	m, err := b.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_muted" })
	if err != nil {
		t.Fatal(err)
	}
	if m.ParticipantID != a.Self.ID || m.Kind != "video" || !m.Muted || m.TrackID == "" {
		t.Errorf("track_muted = %+v", m)
	}

	late := ts.join(ctx, "mute")
	var video *loadtest.Track
	for _, p := range late.Joined.Participants {
		for i, tr := range p.Tracks {
			if p.ID == a.Self.ID && tr.Kind == "video" {
				video = &p.Tracks[i]
			}
		}
	}
	if video == nil || !video.Muted {
		t.Errorf("late joiner sees a's video as %+v, want muted", video)
	}

	if err := a.Send(map[string]any{"type": "mute", "kind": "video", "muted": false}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_muted" && !m.Muted }); err != nil {
		t.Errorf("unmute not announced: %v", err)
	}
	if err := a.Send(map[string]any{"type": "mute", "kind": "screen", "muted": true}); err != nil {
		t.Fatal(err)
	}
	if m, err := a.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" }); err != nil || m.Code != "bad_message" || m.Ref != "mute" {
		t.Errorf("bad kind: got %+v, %v; want bad_message", m, err)
	}
}
