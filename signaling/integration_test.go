package signaling_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/loadtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(netlabChildEnv) != "" {
		os.Exit(netlabChild()) // a subscriber inside a network lab (constrained_test.go)
	}
	goleak.VerifyTestMain(m,
		// pion's SCTP/DTLS and net/http keep-alive goroutines wind down asynchronously.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

func TestRoomFanOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)

	clients := make([]*loadtest.Client, 3)
	for i := range clients {
		clients[i] = ts.join(ctx, "fanout")
		if err := clients[i].Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
	}
	for _, rx := range clients {
		for _, tx := range clients {
			if rx != tx {
				receivesFrom(t, rx, tx.Self.ID, 30)
			}
		}
	}

	// A late joiner receives everybody already there, and they receive it.
	late := ts.join(ctx, "fanout")
	if got := len(late.Joined.Participants); got != 3 {
		t.Fatalf("late joiner saw %d participants, want 3", got)
	}
	if err := late.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		receivesFrom(t, late, c.Self.ID, 30)
		receivesFrom(t, c, late.Self.ID, 30)
	}

	// Nothing was forwarded twice.
	for _, c := range append(clients, late) {
		for k, tc := range c.Received() {
			if tc.Duplicates != 0 {
				t.Errorf("%s: %s got %d duplicate packets", c.Self.ID, k, tc.Duplicates)
			}
		}
	}
	if n := testutil.ToFloat64(ts.metrics.Participants); n != 4 {
		t.Errorf("participants gauge = %v, want 4", n)
	}
}

func TestLeaveAndDrop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)

	a, b, c := ts.join(ctx, "leave"), ts.join(ctx, "leave"), ts.join(ctx, "leave")
	for _, x := range []*loadtest.Client{a, b, c} {
		if err := x.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
	}
	receivesFrom(t, a, c.Self.ID, 10)
	receivesFrom(t, b, c.Self.ID, 10)
	receivesFrom(t, a, b.Self.ID, 10)

	// c leaves politely: within 2 s the others are told and its tracks end.
	start := time.Now()
	c.Leave()
	for _, x := range []*loadtest.Client{a, b} {
		waitLeft(ctx, t, x, c.Self.ID, start)
		eventually(t, 2*time.Second-time.Since(start), "c's tracks to end at "+x.Self.ID, func() bool {
			_, ok := videoFrom(x, c.Self.ID)
			return !ok
		})
	}

	// b drops without a word (socket and peer connections gone).
	start = time.Now()
	b.Close()
	waitLeft(ctx, t, a, b.Self.ID, start)
	eventually(t, 2*time.Second, "b's tracks to end at a", func() bool {
		_, ok := videoFrom(a, b.Self.ID)
		return !ok
	})
	if n := testutil.ToFloat64(ts.metrics.Tracks); n != 2 {
		t.Errorf("published tracks gauge = %v, want 2 (a's audio and video)", n)
	}
}

func waitLeft(ctx context.Context, t *testing.T, c *loadtest.Client, id string, since time.Time) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.WaitFor(wctx, func(m loadtest.Message) bool {
		return m.Leaves(id)
	}); err != nil {
		t.Fatalf("%s was not told that %s left: %v", c.Self.ID, id, err)
	}
	t.Logf("%s saw %s leave after %v", c.Self.ID, id, time.Since(since).Round(time.Millisecond))
}
