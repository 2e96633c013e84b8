package loadtest

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/signaling"
)

// runWithBreak runs cfg in the background, calls brk once every
// participant is in the room with media flowing, and returns the report.
func runWithBreak(t *testing.T, cfg RunConfig, participants int, brk func()) *RunReport {
	t.Helper()
	ready := make(chan struct{})
	var once sync.Once
	cfg.sampled = func(joined int) {
		if joined == participants {
			once.Do(func() { close(ready) })
		}
	}
	type result struct {
		rep *RunReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Run(context.Background(), cfg)
		done <- result{rep, err}
	}()
	select {
	case <-ready:
		brk()
	case res := <-done:
		t.Fatalf("the run ended before every participant had media: %v", res.err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	t.Logf("reconnects: %+v", res.rep.Reconnects)
	return res.rep
}

// checkRecovered asserts that every participant of a run of 1 publisher
// and subs subscribers lost its connection once, for reason, and came
// back, and that media flowed again for every subscriber.
func checkRecovered(t *testing.T, rep *RunReport, subs int, reason string) {
	t.Helper()
	rc := rep.Reconnects
	n := subs + 1
	if rc.Disconnects[reason] != n || len(rc.Disconnects) != 1 || rc.Participants != n {
		t.Errorf("disconnects %v of %d participants, want %d of %q", rc.Disconnects, rc.Participants, n, reason)
	}
	if rc.Succeeded != n || rc.Attempts < n || rc.NotBack != 0 {
		t.Errorf("%d attempts, %d succeeded, %d not back: want every participant back", rc.Attempts, rc.Succeeded, rc.NotBack)
	}
	// One pause per subscriber, from the one publisher, each over: every
	// subscriber got packets from it after the break.
	if rc.Gaps != subs || rc.Unresumed != 0 {
		t.Errorf("%d pauses measured, %d unresumed; want %d, 0", rc.Gaps, rc.Unresumed, subs)
	}
	limit := rep.DurationS * 1000
	for name, p := range map[string]Percentiles{"rejoin": rc.RejoinMS, "media gap": rc.MediaGapMS, "video gap": rc.VideoGapMS} {
		if !(p.P50 > 0 && p.P50 <= p.P99 && p.P99 <= p.Max && p.Max < limit) || math.IsInf(p.Max, 0) {
			t.Errorf("%s %+v ms: want 0 < p50 <= p99 <= max, within the run", name, p)
		}
	}
	if rc.VideoGapMS.P50 < rc.MediaGapMS.P50 || rc.VideoGapMS.Max < rc.MediaGapMS.Max {
		t.Errorf("video gap %+v shorter than the media gap %+v: a keyframe cannot come before the first packet", rc.VideoGapMS, rc.MediaGapMS)
	}
	if rep.TracksReceived != rep.TracksExpected {
		t.Errorf("tracks %d of %d at the end", rep.TracksReceived, rep.TracksExpected)
	}
	checkNoMediaFailure(t, rep)
	// Media in the last seconds: packets counted after the break.
	for _, s := range rep.Samples[len(rep.Samples)-2:] {
		if s.BitrateKbps <= 0 || s.Subscribers != subs {
			t.Errorf("at %.0f s: %.0f kbit/s to %d subscribers, want media to all %d", s.T, s.BitrateKbps, s.Subscribers, subs)
		}
	}
	t.Logf("%s: rejoin p50 %.0f p99 %.0f max %.0f ms; media gap p50 %.0f p99 %.0f max %.0f ms; video gap p50 %.0f p99 %.0f max %.0f ms; failed attempts %v",
		reason, rc.RejoinMS.P50, rc.RejoinMS.P99, rc.RejoinMS.Max, rc.MediaGapMS.P50, rc.MediaGapMS.P99, rc.MediaGapMS.Max,
		rc.VideoGapMS.P50, rc.VideoGapMS.P99, rc.VideoGapMS.Max, rc.Failures)
}

// TestRunRejoinsAfterShutdown: the node shuts down as on SIGTERM (bye
// "shutdown", close 1001) and comes back on the same address 1.5 s
// later. Every participant rejoins by itself, meeting a refused port in
// between, the publisher publishes again and every subscriber gets media
// again; the report gives the rejoin times and the media gaps.
func TestRunRejoinsAfterShutdown(t *testing.T) {
	checkNoLeaks(t)
	a := startTestNode(t, "127.0.0.1:0")
	cfg := RunConfig{
		URLs: []string{a.wsURL()}, Rooms: 1, Publishers: 1, Subscribers: 3, Duration: 16 * time.Second,
		Simulcast: true, LoopbackOnly: true, RoomPrefix: "drain", Token: a.mint,
	}
	rep := runWithBreak(t, cfg, 4, func() {
		a.shutdown()
		time.Sleep(1500 * time.Millisecond)
		startTestNode(t, a.addr)
	})
	checkRecovered(t, rep, 3, "1001 going away")
	if rep.Reconnects.Failures["refused"] == 0 {
		t.Errorf("failed attempts %v: want some refused while the node was down", rep.Reconnects.Failures)
	}
}

// TestRunRejoinsAfterNodeDies: the node dies as on kill -9: its sockets
// close with no WebSocket close, no bye. Every participant moves to the
// second URL, a node on another loopback address, on its own.
func TestRunRejoinsAfterNodeDies(t *testing.T) {
	checkNoLeaks(t)
	a := startTestNode(t, "127.0.0.1:0")
	b := startTestNode(t, "127.0.0.2:0")
	cfg := RunConfig{
		URLs: []string{a.wsURL(), b.wsURL()}, Rooms: 1, Publishers: 1, Subscribers: 3, Duration: 14 * time.Second,
		Simulcast: true, LoopbackOnly: true, RoomPrefix: "killed", Token: a.mint, // the nodes share one key
	}
	rep := runWithBreak(t, cfg, 4, a.kill)
	checkRecovered(t, rep, 3, "1006 dropped")
}

// TestRunRejoinsAfterNodeGoesSilent: the node goes silent as a machine
// that lost power does: its TCP connections stay open but carry nothing,
// not even pings, and its media stops. Every participant gives its
// connection up after the idle timeout and moves to the second URL.
func TestRunRejoinsAfterNodeGoesSilent(t *testing.T) {
	checkNoLeaks(t)
	fastPings := func(c *signaling.Config) { c.PingInterval = time.Second }
	a := startTestNode(t, "127.0.0.1:0", fastPings)
	b := startTestNode(t, "127.0.0.2:0", fastPings)
	cfg := RunConfig{
		URLs: []string{a.wsURL(), b.wsURL()}, Rooms: 1, Publishers: 1, Subscribers: 3, Duration: 16 * time.Second,
		Simulcast: true, LoopbackOnly: true, RoomPrefix: "silent", Token: a.mint, IdleTimeout: 3 * time.Second,
	}
	rep := runWithBreak(t, cfg, 4, a.silence)
	checkRecovered(t, rep, 3, "1006 timed out")
	// The last ping came at most 1 s before the node went silent.
	if gap := rep.Reconnects.MediaGapMS.P50; gap < 2000 {
		t.Errorf("media gap p50 %.0f ms: want over the 3 s idle timeout less the 1 s ping interval", gap)
	}
}

// TestRunReplacedDoesNotRejoin: a subscriber whose identity joins the room
// on another connection is closed with 4409 and must not rejoin, or it
// would throw the other out in turn. The run reports it lost and not back.
func TestRunReplacedDoesNotRejoin(t *testing.T) {
	checkNoLeaks(t)
	a := startTestNode(t, "127.0.0.1:0")
	cfg := RunConfig{
		URLs: []string{a.wsURL()}, Rooms: 1, Publishers: 1, Subscribers: 2, Duration: 8 * time.Second,
		LoopbackOnly: true, RoomPrefix: "replaced", Token: a.mint,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var other *Client
	rep := runWithBreak(t, cfg, 3, func() {
		tok, err := a.mint(ctx, "", "replaced-0", "sub-0")
		if err != nil {
			t.Fatal(err)
		}
		if other, err = Dial(ctx, Options{URL: a.wsURL(), Token: tok, LoopbackOnly: true}); err != nil {
			t.Fatal(err)
		}
	})
	defer other.Close()
	rc := rep.Reconnects
	if rc.Disconnects["4409 replaced"] != 1 || len(rc.Disconnects) != 1 || rc.Attempts != 0 || rc.NotBack != 1 {
		t.Errorf("disconnects %v, %d attempts, %d not back: want one 4409, no attempt, 1 not back", rc.Disconnects, rc.Attempts, rc.NotBack)
	}
	for _, m := range other.Messages() {
		if m.Type == "bye" || m.Type == "close" {
			t.Errorf("the session that replaced the subscriber got %s %s %s: the subscriber came back", m.Type, m.Reason, m.Code)
		}
	}
	if rep.Passed {
		t.Error("the run passed with a participant gone")
	}
}

// TestRunRetriesFirstAttempt: a first attempt that fails is retried with
// backoff on the next URL: a refused port, then a node that refuses
// upgrades with 503 as it shuts down, then a live node.
func TestRunRetriesFirstAttempt(t *testing.T) {
	checkNoLeaks(t)
	draining, live := startTestNode(t, "127.0.0.1:0"), startTestNode(t, "127.0.0.1:0")
	draining.drain()
	rep, err := Run(context.Background(), RunConfig{
		URLs: []string{deadURL(t), draining.wsURL(), live.wsURL()}, Rooms: 1, Publishers: 1, Subscribers: 1, Duration: 5 * time.Second,
		AudioOnly: true, LoopbackOnly: true, RoomPrefix: "retry", Token: live.mint,
	})
	if err != nil {
		t.Fatal(err)
	}
	rc := rep.Reconnects
	if rc.Failures["refused"] != 2 || rc.Failures["http 503"] != 2 || len(rc.Failures) != 2 {
		t.Errorf("failed attempts %v, want 2 refused and 2 http 503", rc.Failures)
	}
	if rc.Attempts != 4 || rc.Succeeded != 2 || len(rc.Disconnects) != 0 || rc.RejoinMS.Max != 0 {
		t.Errorf("%d attempts, %d succeeded, disconnects %v, rejoin %+v: want 4, 2, none, none", rc.Attempts, rc.Succeeded, rc.Disconnects, rc.RejoinMS)
	}
	if rep.TracksReceived != 1 || rep.NotJoined != 0 {
		t.Errorf("tracks %d of 1, %d not joined", rep.TracksReceived, rep.NotJoined)
	}
	checkNoMediaFailure(t, rep)
}

// checkNoLeaks checks, once the test and its cleanups are done, that no
// goroutine it started is left: no rejoin, no client, no node. Call it
// before the test starts its nodes, so that it runs after their cleanups.
func checkNoLeaks(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, leaks, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
	})
}

// checkNoMediaFailure asserts that the run failed on none of the tracks or
// the reconnections. It may fail on skipped frames: on a busy machine the
// harness does fall behind at times.
func checkNoMediaFailure(t *testing.T, rep *RunReport) {
	t.Helper()
	for _, f := range rep.Failures {
		if strings.HasPrefix(f, "tracks") || strings.HasPrefix(f, "reconnect") {
			t.Errorf("failure %q", f)
		}
	}
}
