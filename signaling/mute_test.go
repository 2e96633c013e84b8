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

// TestMuteBeforePublish checks that a mute sent before the track it is
// about exists is kept: a client that rejoins muted says so right after
// its offer, before its media arrives. The tracks published later start
// muted for the others (track_published, and joined for a late joiner),
// the kind not muted stays unmuted, and an unmute after that is announced.
func TestMuteBeforePublish(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a, b := ts.join(ctx, "mute-early"), ts.join(ctx, "mute-early")
	for _, m := range []map[string]any{
		{"type": "mute", "kind": "audio", "muted": true},
		{"type": "mute", "kind": "video", "muted": true},
		{"type": "mute", "kind": "video", "muted": false},
		{"type": "mute", "kind": "video", "muted": true},
	} {
		if err := a.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	// A ping's pong comes after the mutes were handled.
	if err := a.Send(map[string]any{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "pong" }); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	receivesFrom(t, b, a.Self.ID, 5)
	published := map[string]bool{}
	for _, m := range b.Messages() {
		if m.Type == "track_published" && m.ParticipantID == a.Self.ID && m.Track != nil {
			published[m.Track.Kind] = m.Track.Muted
		}
	}
	if muted, ok := published["audio"]; !ok || !muted {
		t.Errorf("b saw a's audio published with muted %v (announced %v), want muted", muted, ok)
	}
	if muted, ok := published["video"]; !ok || !muted {
		t.Errorf("b saw a's video published with muted %v (announced %v), want muted", muted, ok)
	}

	late := ts.join(ctx, "mute-early")
	for _, p := range late.Joined.Participants {
		if p.ID != a.Self.ID {
			continue
		}
		if len(p.Tracks) != 2 {
			t.Errorf("late joiner sees a's tracks %+v, want audio and video", p.Tracks)
		}
		for _, tr := range p.Tracks {
			if !tr.Muted {
				t.Errorf("late joiner sees a's %s unmuted, want muted", tr.Kind)
			}
		}
	}

	if err := a.Send(map[string]any{"type": "mute", "kind": "audio", "muted": false}); err != nil {
		t.Fatal(err)
	}
	m, err := b.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_muted" })
	if err != nil {
		t.Fatal(err)
	}
	if m.ParticipantID != a.Self.ID || m.Kind != "audio" || m.Muted {
		t.Errorf("track_muted = %+v, want a's audio unmuted", m)
	}
}
