package sfu_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// TestRelayCarriesSource publishes a screen share on node A of a room
// relayed to node B: B's subscriber is told the track is a screen, in
// track_published and, joining late, in joined.
func TestRelayCarriesSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})
	media := loadtest.DefaultMedia
	media.Source = "screen"
	pub := a.join(ctx, "relay-source")
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}
	sub := b.join(ctx, "relay-source")
	openRelay(t, a.sfu, b.sfu, "relay-source", nil)
	m, err := sub.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "track_published" && m.ParticipantID == pub.Self.ID && m.Track.Kind == "video"
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Track.Source != "screen" {
		t.Errorf("B's subscriber told of the video with source %q, want screen", m.Track.Source)
	}
	receivesFrom(t, sub, pub.Self.ID, 10)
	late := b.join(ctx, "relay-source")
	for _, p := range late.Joined.Participants {
		for _, tr := range p.Tracks {
			if want := map[string]string{"video": "screen", "audio": "microphone"}[tr.Kind]; p.ID == pub.Self.ID && tr.Source != want {
				t.Errorf("B's late joiner finds the %s with source %q, want %q", tr.Kind, tr.Source, want)
			}
		}
	}
}
