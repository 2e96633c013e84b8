package signaling_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

// TestMove: Server.Move tells every joined client to move, with the time
// left in milliseconds; the clients' sessions go on (they leave by
// themselves), and the client reports the move once.
func TestMove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a, b := ts.join(ctx, "moving"), ts.join(ctx, "moving")
	told := make(chan loadtest.Move, 2)
	a.OnMove(func(mv loadtest.Move) { told <- mv })

	ts.sig.Move(7 * time.Second)
	for _, c := range []*loadtest.Client{a, b} {
		m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "move" })
		if err != nil {
			t.Fatalf("%s was not told to move: %v", c.Self.ID, err)
		}
		var wire map[string]any
		if err := json.Unmarshal(m.Raw, &wire); err != nil || wire["timeLeft"] != 7000.0 || len(wire) != 2 {
			t.Errorf("%s got %s (%v), want {\"type\":\"move\",\"timeLeft\":7000}", c.Self.ID, m.Raw, err)
		}
	}
	select {
	case mv := <-told:
		if mv.TimeLeft != 7*time.Second || mv.At.IsZero() {
			t.Errorf("OnMove told %+v, want 7 s left", mv)
		}
	case <-ctx.Done():
		t.Fatal("OnMove was not called")
	}
	// A later OnMove is told at once; the sessions go on.
	b.OnMove(func(mv loadtest.Move) { told <- mv })
	if mv := <-told; mv.TimeLeft != 7*time.Second {
		t.Errorf("OnMove after the move told %+v", mv)
	}
	for _, c := range []*loadtest.Client{a, b} {
		if err := c.Send(map[string]string{"type": "ping"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "pong" }); err != nil {
			t.Errorf("%s's session ended after the move: %v", c.Self.ID, err)
		}
	}
	if len(told) != 0 {
		t.Errorf("OnMove called %d more times", len(told))
	}
}
