package signaling_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// Leaving modes. An abrupt leave closes the TCP connection without a
// close frame and the peer connections without a word, as a crashed
// client does; leaveGoingAway sends a close frame first, as a closed tab
// does.
const (
	leaveClean = iota
	leaveGoingAway
	leaveAbrupt
	leaveModes
)

var leaveNames = [leaveModes]string{"leave", "close frame", "abrupt"}

// soak is the state TestSoak's workers share.
type soak struct {
	t      *testing.T
	ts     *testServer
	roster soakRoster

	joins, live, shortStays, packets, failures atomic.Int64
	leaves                                     [leaveModes]atomic.Int64
	// pairs counts the publisher-subscriber pairs judged; of them,
	// videoPairs received video and pausedPairs had it paused by the
	// server. unjudged counts those that one left before they could be,
	// or, of them, starved, that the process was too short of CPU to
	// judge (see soakPatienceCPU).
	pairs, videoPairs, pausedPairs, unjudged, starved atomic.Int64
	// unattributed counts tracks received without a participant ID.
	unattributed atomic.Int64
}

// worker keeps one participant coming and going until ctx ends.
func (s *soak) worker(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		s.session(ctx, rng)
		sleepCtx(ctx, time.Duration(200+rng.IntN(1300))*time.Millisecond)
	}
}

// session is one stay: join a room, publish or not, stay, check the
// media, leave.
func (s *soak) session(ctx context.Context, rng *rand.Rand) {
	room := fmt.Sprintf("soak-%d", rng.IntN(soakRooms))
	// Not ctx: a join under way when the churn ends completes, and leaves.
	jctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := loadtest.Dial(jctx, loadtest.Options{URL: s.ts.wsURL, Token: s.token(room), LoopbackOnly: true, KeepMessages: 64})
	if err != nil {
		s.failf("join %s: %v", room, err)
		return
	}
	s.joins.Add(1)
	s.live.Add(1)
	defer s.live.Add(-1)
	publishes := rng.Float64() < soakPublishShare
	if publishes {
		if err := c.Publish(soakMedia); err != nil {
			s.failf("%s publish: %v", c.Self.ID, err)
			c.Close()
			return
		}
	}
	m := s.roster.add(&soakMember{id: c.Self.ID, room: room, client: c, publishes: publishes, since: time.Now()})

	stay := soakMinStay + time.Duration(rng.Int64N(int64(soakMaxStay-soakMinStay)))
	if rng.Float64() < soakShortShare {
		stay = time.Duration(rng.Int64N(int64(soakShortStay)))
		s.shortStays.Add(1)
	}
	sleepCtx(ctx, stay)

	s.checkReceived(m)
	s.checkPairs(m)
	s.roster.leave(m, time.Now())
	mode := rng.IntN(leaveModes)
	switch mode {
	case leaveClean:
		c.Leave()
	case leaveGoingAway:
		_ = c.SendRaw(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
		c.Close()
	case leaveAbrupt:
		c.Close()
	}
	s.leaves[mode].Add(1)
}

func (s *soak) token(room string) string {
	id := fmt.Sprintf("soak-%d", identitySeq.Add(1))
	tok, err := s.ts.keys.Mint("test", signaling.TokenRequest{Room: room, Identity: id, Name: id, Grants: allGrants, TTL: time.Hour}, time.Now())
	if err != nil {
		s.failf("mint: %v", err)
	}
	return tok
}

// failf reports a failure; past soakMaxReported it only counts.
func (s *soak) failf(format string, args ...any) {
	if s.failures.Add(1) <= soakMaxReported {
		s.t.Errorf(format, args...)
	}
}

// logEvery logs the progress every interval, and forgets those long
// gone, until the returned func is called.
func (s *soak) logEvery(interval time.Duration, base procFigures) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				s.logProgress(time.Since(start).Round(time.Second).String(), base)
				// Longer ago than anyone still in can have stayed.
				s.roster.prune(time.Now().Add(-2 * (soakMaxStay + soakGiveUp)))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (s *soak) logProgress(when string, base procFigures) {
	counts := fmt.Sprintf("%d joins (%d short stays), leaves %d/%d/%d (%s/%s/%s), %d clients in; "+
		"%d pairs judged (video received %d, paused %d), %d unjudged (%d starved of CPU), %d packets received by those who left, "+
		"%d unattributed tracks, server forwarded %.0f; server: %s",
		s.joins.Load(), s.shortStays.Load(),
		s.leaves[leaveClean].Load(), s.leaves[leaveGoingAway].Load(), s.leaves[leaveAbrupt].Load(),
		leaveNames[leaveClean], leaveNames[leaveGoingAway], leaveNames[leaveAbrupt], s.live.Load(),
		s.pairs.Load(), s.videoPairs.Load(), s.pausedPairs.Load(), s.unjudged.Load(), s.starved.Load(), s.packets.Load(),
		s.unattributed.Load(), testutil.ToFloat64(s.ts.metrics.PacketsForwarded), s.ts.state())
	f := readProcFigures() // after the counts: a collection of a busy heap takes a while
	s.t.Logf("soak %s: %s; %s, CPU %v (start: %d goroutines, %d fds, %s)",
		when, counts, f, cpuTime().Round(time.Second), base.Goroutines, base.FDs, mib(base.HeapAlloc))
}

// sleepCtx sleeps for d or until ctx ends, and says whether it slept the
// whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
