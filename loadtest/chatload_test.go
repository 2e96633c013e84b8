package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunChat: a run whose participants chat. At a rate the server
// takes, every message reaches every other participant of its room, and
// the report has its latency; faster than the server's chat rate limit
// (5 a second after a burst of 10), the refusals are counted and fail
// the run.
func TestRunChat(t *testing.T) {
	ts := startSampleTestServer(t)
	run := func(prefix string, every, duration time.Duration) *RunReport {
		t.Helper()
		rep, err := Run(context.Background(), RunConfig{
			URLs: []string{ts.wsURL}, Rooms: 2, Publishers: 2, Subscribers: 4, Duration: duration,
			AudioOnly: true, LoopbackOnly: true, RoomPrefix: prefix, Token: ts.mint, ChatEvery: every,
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Chat == nil {
			t.Fatal("the report has no chat")
		}
		return rep
	}

	rep := run("chat", 400*time.Millisecond, 5*time.Second)
	c := rep.Chat
	var table strings.Builder
	rep.WriteTable(&table)
	t.Logf("%+v\n%s", *c, table.String())
	// 6 participants, each a message every 400 ms, for the run's 5 s less
	// the joins and the 2 s tail: 20 or more.
	if c.Sent < 20 || c.Failed != 0 || c.Refused != 0 {
		t.Errorf("sent %d (%d failed, %d refused), want 20 or more, none failed or refused", c.Sent, c.Failed, c.Refused)
	}
	// Each message is due to the others of its room then: 2 once the
	// subscribers joined (the publishers join first, and chat at once).
	if c.Expected <= c.Sent || c.Delivered != c.Expected {
		t.Errorf("delivered %d of %d due for %d messages, want all, most due to 2", c.Delivered, c.Expected, c.Sent)
	}
	if c.LatencyMS.P50 <= 0 || c.LatencyMS.Max < c.LatencyMS.P99 || !rep.Passed {
		t.Errorf("latency %+v, passed %v (%v): want measured, and the run passed", c.LatencyMS, rep.Passed, rep.Failures)
	}
	if !strings.Contains(table.String(), "delivered") {
		t.Errorf("the table has no chat section:\n%s", table.String())
	}

	rep = run("chat-flood", 40*time.Millisecond, 3*time.Second)
	if c := rep.Chat; c.Refused == 0 || c.Delivered != c.Expected || rep.Passed {
		t.Errorf("a chat faster than the server's limit: %+v, passed %v (%v); want refusals counted, the rest delivered, the run failed", *c, rep.Passed, rep.Failures)
	}
	t.Logf("faster than the limit: %+v; failures %v", *rep.Chat, rep.Failures)
}
