package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunMessages: a run whose participants chat and send application
// data. At a rate the server takes, every message reaches every other
// participant of its room, and the report has its latency; faster than
// the server's chat rate limit (5 a second after a burst of 10), the
// refusals are counted and fail the run.
func TestRunMessages(t *testing.T) {
	ts := startSampleTestServer(t)
	run := func(cfg RunConfig) *RunReport {
		t.Helper()
		cfg.URLs, cfg.Rooms, cfg.Publishers, cfg.Subscribers = []string{ts.wsURL}, 2, 2, 4
		cfg.AudioOnly, cfg.LoopbackOnly, cfg.Token = true, true, ts.mint
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	rep := run(RunConfig{RoomPrefix: "talk", Duration: 5 * time.Second, ChatEvery: 400 * time.Millisecond, DataEvery: 400 * time.Millisecond})
	var table strings.Builder
	rep.WriteTable(&table)
	t.Logf("\n%s", table.String())
	for _, c := range []*MessageSummary{rep.Chat, rep.Data} {
		if c == nil {
			t.Fatalf("the report lacks chat (%v) or data (%v)", rep.Chat, rep.Data)
		}
		// 6 participants, each a message every 400 ms, for the run's 5 s
		// less the joins and the 2 s tail: 20 or more.
		if c.Sent < 20 || c.Failed != 0 || c.Refused != 0 {
			t.Errorf("%s: sent %d (%d failed, %d refused), want 20 or more, none failed or refused", c.name, c.Sent, c.Failed, c.Refused)
		}
		// Each message is due to the others of its room then: 2 once the
		// subscribers joined (the publishers join first, and talk at once).
		if c.Expected <= c.Sent || c.Delivered != c.Expected {
			t.Errorf("%s: delivered %d of %d due for %d messages, want all, most due to 2", c.name, c.Delivered, c.Expected, c.Sent)
		}
		if c.LatencyMS.P50 <= 0 || c.LatencyMS.Max < c.LatencyMS.P99 {
			t.Errorf("%s: latency %+v, want measured", c.name, c.LatencyMS)
		}
	}
	if !rep.Passed {
		t.Errorf("the run failed: %v", rep.Failures)
	}
	for _, section := range []string{"Chat", "Application data (reliable)"} {
		if !strings.Contains(table.String(), "\n"+section+"\n") {
			t.Errorf("the table has no %q section", section)
		}
	}

	rep = run(RunConfig{RoomPrefix: "flood", Duration: 3 * time.Second, ChatEvery: 40 * time.Millisecond})
	if c := rep.Chat; c.Refused == 0 || c.Delivered != c.Expected || rep.Passed || rep.Data != nil {
		t.Errorf("a chat faster than the server's limit: %+v, passed %v (%v); want refusals counted, the rest delivered, the run failed, no data", *c, rep.Passed, rep.Failures)
	}
	t.Logf("faster than the limit: %+v; failures %v", *rep.Chat, rep.Failures)
}
