package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
)

// TestUnpublishTrack stops one track while its publisher stays: the others
// are told and the track ends for them, while audio keeps flowing.
func TestUnpublishTrack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a, b := ts.join(ctx, "unpublish"), ts.join(ctx, "unpublish")
	if err := a.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	receivesFrom(t, b, a.Self.ID, 5)
	if err := a.StopVideo(); err != nil {
		t.Fatal(err)
	}
	m, err := b.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_unpublished" })
	if err != nil {
		t.Fatal(err)
	}
	if m.ParticipantID != a.Self.ID {
		t.Errorf("track_unpublished for %s, want %s", m.ParticipantID, a.Self.ID)
	}
	eventually(t, 2*time.Second, "video to end at b", func() bool {
		_, ok := videoFrom(b, a.Self.ID)
		return !ok
	})
	before, _ := audioFrom(b, a.Self.ID)
	eventually(t, 2*time.Second, "audio to keep flowing", func() bool {
		now, ok := audioFrom(b, a.Self.ID)
		return ok && now.Packets > before.Packets+10
	})
	if n := testutil.ToFloat64(ts.metrics.Tracks); n != 1 {
		t.Errorf("published tracks gauge = %v, want 1", n)
	}
}

// TestNoForwardingToDeparted checks that once the only subscriber has
// gone, the SFU stops writing the publisher's packets anywhere.
func TestNoForwardingToDeparted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a, b := ts.join(ctx, "departed"), ts.join(ctx, "departed")
	if err := a.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	receivesFrom(t, b, a.Self.ID, 5)
	b.Close()
	if _, err := a.WaitFor(ctx, func(m loadtest.Message) bool { return m.Leaves(b.Self.ID) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	sent := testutil.ToFloat64(ts.metrics.PacketsForwarded)
	received := testutil.ToFloat64(ts.metrics.PacketsReceived)
	eventually(t, 5*time.Second, "publisher packets to keep arriving", func() bool {
		return testutil.ToFloat64(ts.metrics.PacketsReceived) > received+50
	})
	if now := testutil.ToFloat64(ts.metrics.PacketsForwarded); now != sent {
		t.Errorf("forwarded %v packets after the only subscriber left", now-sent)
	}
}
