package signaling_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// TestPublisherICERestart: a publishing client restarts ICE on its
// publisher connection (a new username fragment in a new offer, as after
// a network change). The server answers with new credentials of its own,
// sends its new candidates after the answer, counts the restart, and
// the media goes on reaching a subscriber, in the same session.
func TestPublisherICERestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	pub := ts.join(ctx, "restart")
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	sub := ts.join(ctx, "restart")
	frames := func() int { return loadtest.VideoFrames(sub.Received(), pub.Self.ID) }
	eventually(t, 15*time.Second, "video at the subscriber", func() bool { return frames() >= 30 })
	before := pub.Publisher().RemoteDescription().SDP
	if err := pub.RestartPublisherICE(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the restart answered", func() bool {
		return pub.Publisher().SignalingState().String() == "stable" && pub.Publisher().RemoteDescription().SDP != before
	})
	if ufrag(before) == ufrag(pub.Publisher().RemoteDescription().SDP) {
		t.Errorf("the server answered the restart with its old ICE username fragment %q", ufrag(before))
	}
	n0 := frames()
	eventually(t, 15*time.Second, "video after the restart", func() bool {
		return pub.Publisher().ConnectionState().String() == "connected" && frames() >= n0+60
	})
	if p, s := pub.ICERestarts(); p != 1 || s != 0 {
		t.Errorf("client counted restarts publisher %d, subscriber %d; want 1, 0", p, s)
	}
	if got := testutil.ToFloat64(ts.metrics.ICERestarts.WithLabelValues("publisher")); got != 1 {
		t.Errorf("server counted %v publisher restarts, want 1", got)
	}
	for _, m := range pub.Messages() {
		if m.Type == "error" || m.Type == "client_error" || (m.Type == "joined" && m.Self.ID != pub.Self.ID) {
			t.Errorf("publisher got %s %s %s", m.Type, m.Code, m.Message)
		}
	}
}

// ufrag is a description's first ICE username fragment.
func ufrag(sdp string) string {
	_, rest, _ := strings.Cut(sdp, "a=ice-ufrag:")
	v, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(v)
}

// TestSubscriberICERestartRequest: a client asks for an ICE restart of
// its subscriber connection (restart, target subscriber). The server
// offers with new ICE credentials, the client answers, the media goes
// on; a second request straight after is granted by the first (no
// second restart, no error). Asking for the publisher connection, for
// an unknown target, or before the subscriber connection was negotiated
// is refused with not_allowed, and the session goes on.
func TestSubscriberICERestartRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	early := ts.join(ctx, "restart-sub")
	refused := func(c *loadtest.Client, target string) {
		t.Helper()
		if err := c.Send(map[string]any{"type": "restart", "target": target}); err != nil {
			t.Fatal(err)
		}
		m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" && m.Ref == "restart" })
		if err != nil || m.Code != signaling.CodeNotAllowed {
			t.Fatalf("restart %q: %+v %v; want not_allowed", target, m, err)
		}
		t.Logf("restart %q: %s %s", target, m.Code, m.Message)
	}
	refused(early, "subscriber") // nothing to receive yet: never negotiated
	refused(early, "publisher")
	refused(early, "peer")
	early.Close()

	pub := ts.join(ctx, "restart-sub")
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	sub := ts.join(ctx, "restart-sub")
	frames := func() int { return loadtest.VideoFrames(sub.Received(), pub.Self.ID) }
	eventually(t, 15*time.Second, "video at the subscriber", func() bool { return frames() >= 30 })
	before := ufrag(sub.Subscriber().RemoteDescription().SDP)
	for range 2 {
		if err := sub.Send(map[string]any{"type": "restart", "target": "subscriber"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the restart offer answered", func() bool {
		return sub.Subscriber().SignalingState().String() == "stable" && ufrag(sub.Subscriber().RemoteDescription().SDP) != before
	})
	n0 := frames()
	eventually(t, 15*time.Second, "video after the restart", func() bool {
		return sub.Subscriber().ConnectionState().String() == "connected" && frames() >= n0+60
	})
	if _, s := sub.ICERestarts(); s != 1 {
		t.Errorf("client counted %d subscriber restarts, want 1", s)
	}
	if got := testutil.ToFloat64(ts.metrics.ICERestarts.WithLabelValues("subscriber")); got != 1 {
		t.Errorf("server counted %v subscriber restarts, want 1", got)
	}
	for _, m := range sub.Messages() {
		if m.Type == "error" || m.Type == "client_error" {
			t.Errorf("subscriber got %s %s %s", m.Type, m.Code, m.Message)
		}
	}
}
