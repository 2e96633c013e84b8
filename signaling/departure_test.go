package signaling_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// newLoggedServer is a test server whose info log the test can read.
func newLoggedServer(t *testing.T, tweak func(*signaling.Config)) (*testServer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	return newTestServerLog(t, tweak, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))), logs
}

// wantDeparture waits for the info line logging that participant id
// departed for reason.
func wantDeparture(t *testing.T, logs *logBuffer, id, reason string) {
	t.Helper()
	eventually(t, 10*time.Second, id+" departing "+reason+" in the log", func() bool {
		return len(logs.lines("level=INFO", `msg="participant departed"`, "reason="+reason, "participant="+id)) == 1
	})
}

// TestReplacedSession joins one identity twice: the first connection is
// told bye "replaced" and closed with 4409 and a sentence for people,
// the second stays in the room, and the departure is logged and counted.
func TestReplacedSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts, logs := newLoggedServer(t, nil)
	const room = "replaced"
	observer := ts.join(ctx, room)
	tok := mintFor(t, ts.keys, "test", room, "same-person", time.Now())
	dial := func() *loadtest.Client {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: ts.wsURL, Token: tok, LoopbackOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	first := dial()
	if err := first.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	receivesFrom(t, observer, first.Self.ID, 10)

	second := dial()
	bye, err := first.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "bye" })
	if err != nil || bye.Reason != "replaced" {
		t.Fatalf("first connection: got %s, %v; want bye replaced", bye.Raw, err)
	}
	closed, err := first.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "close" })
	if err != nil {
		t.Fatalf("first connection not closed: %v", err)
	}
	if closed.Code != fmt.Sprint(signaling.CloseReplaced) || closed.Message != "you joined from another tab or device" {
		t.Fatalf("first connection closed with %s %q; want %d and why", closed.Code, closed.Message, signaling.CloseReplaced)
	}
	if _, err := observer.WaitFor(ctx, func(m loadtest.Message) bool { return m.Leaves(first.Self.ID) }); err != nil {
		t.Fatalf("the observer was not told the first session left: %v", err)
	}
	wantPong(ctx, t, second)
	wantPong(ctx, t, observer)
	wantDeparture(t, logs, first.Self.ID, "replaced")
	m := ts.sig.Metrics()
	if got := testutil.ToFloat64(m.Departures.WithLabelValues("replaced")); got != 1 {
		t.Errorf("sfu_ws_departures_total{reason=replaced} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Joins); got != 3 {
		t.Errorf("sfu_ws_joins_total = %v, want 3", got)
	}
	if st, _ := ts.sfu.RoomState(room); len(st.Participants) != 2 {
		t.Errorf("room has %d participants, want the observer and the second session", len(st.Participants))
	}
}

// TestDepartureReasons ends sessions each way and checks the info log and
// the counter: leave is "left", a socket closed without a word "dropped",
// a client that answers no ping "timed_out".
func TestDepartureReasons(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts, logs := newLoggedServer(t, func(c *signaling.Config) {
		c.PingInterval = 200 * time.Millisecond
		c.PongTimeout = time.Second
	})
	const room = "departures"

	leaver := ts.join(ctx, room)
	leaver.Leave()
	wantDeparture(t, logs, leaver.Self.ID, "left")

	crasher := ts.join(ctx, room)
	crasher.Close()
	wantDeparture(t, logs, crasher.Self.ID, "dropped")

	// A raw client that never reads never answers the server's pings.
	silent := dialRaw(ctx, t, ts)
	silent.send(map[string]any{"type": "join", "version": 2, "token": ts.token(room, allGrants)})
	joined := silent.next()
	if joined.Type != "joined" {
		t.Fatalf("got %s, want joined", joined.Raw)
	}

	wantDeparture(t, logs, joined.Self.ID, "timed_out")

	m := ts.sig.Metrics()
	for _, reason := range []string{"left", "dropped", "timed_out"} {
		if got := testutil.ToFloat64(m.Departures.WithLabelValues(reason)); got != 1 {
			t.Errorf("sfu_ws_departures_total{reason=%s} = %v, want 1", reason, got)
		}
	}
}

// TestNegotiationFailureLogged has a client send descriptions the server
// refuses: the first few are logged at info with who sent them and why,
// the rest only at debug, and the session goes on.
func TestNegotiationFailureLogged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts, logs := newLoggedServer(t, nil)
	c := ts.join(ctx, "refused")
	const sent = 5
	for range sent {
		if err := c.Send(map[string]string{"type": "offer", "sdp": "v=0"}); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeBadSDP, "offer")
	}
	wantPong(ctx, t, c)
	got := logs.lines("level=INFO", `msg="negotiation failed"`, "message=offer", "participant="+c.Self.ID, "room=refused", "err=")
	if len(got) != 3 {
		t.Fatalf("%d of %d refused offers logged at info, want the first 3:\n%s", len(got), sent, logs)
	}
}
