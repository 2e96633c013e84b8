package signaling_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/loadtest"
)

// soakFor is how long TestSoak churns. The default is the run `make test`
// does; operators run it for longer, e.g.
//
//	go test ./signaling/ -run 'TestSoak$' -timeout 0 -v -soak=1h
var soakFor = flag.Duration("soak", soakCI, "how long TestSoak churns participants (the CI run's length by default)")

const (
	// soakCI is the churn of the run in `make test`: with the warm-up
	// and the settling at the end about 80 s under -race.
	soakCI = 60 * time.Second
	// soakWorkers each keep one participant coming and going, so about
	// this many are in the rooms at once.
	soakWorkers = 30
	soakRooms   = 6
	// soakPublishShare of the participants publish; all subscribe.
	soakPublishShare = 2.0 / 3
	// soakShortShare of the stays are shorter than soakShortStay: the
	// participant often leaves while its connections are still being
	// negotiated. The others last soakMinStay to soakMaxStay.
	soakShortShare = 0.2
	soakShortStay  = 1500 * time.Millisecond
	soakMinStay    = 8 * time.Second
	soakMaxStay    = 24 * time.Second
	// soakSettle is how long, after the churn, the server may take to
	// return to its baseline.
	soakSettle = 60 * time.Second
	// soakMaxReported is how many failures are reported one by one.
	soakMaxReported = 10
)

const (
	// soakFDSlack allows for a descriptor the runtime or the HTTP server
	// opens once and keeps (none is expected after the warm-up). A
	// participant holds at least five (the WebSocket and a UDP socket
	// per peer connection, on each side), so leaking one is more.
	soakFDSlack = 4
	// soakHeapSlack bounds the heap's growth over the soak, after a
	// forced collection. The CI run makes about 120 joins: were each to
	// leave 70 KiB behind, the heap would be 8 MiB over. A participant
	// holds 4-8 MiB while it stays, its client's and the server's part
	// (peer connections, packet caches, buffers: the soak logs 125-300
	// MiB with ~30 in), so one left behind whole comes near it alone
	// (and the checks on rooms, goroutines and descriptors catch it).
	// Longer runs make the bound per join tighter: 10 minutes make about
	// 1,300 joins (6 KiB each), an hour about 8,000 (1 KiB each). Below
	// it lies what the process keeps on its own, pools and maps sized to
	// its busiest moment: 1.0-1.3 MiB after 200 joins and after 1,300.
	soakHeapSlack = 8 << 20
)

// soakMedia is light on purpose (one packet per video frame, 10 frames a
// second beside 50 audio packets): the soak is about joining and leaving,
// and with 30 participants under the race detector on two shared cores
// media must leave CPU to spare.
var soakMedia = loadtest.Media{FPS: 10, FrameBytes: 900, KeyframeEvery: 2 * time.Second, Audio: true}

// TestSoak churns about 30 participants through 6 rooms: each joins,
// publishes audio and video (two in three) or only subscribes, stays a
// while and leaves, cleanly or not, and again. Every subscriber must get
// media from every publisher it shares a room with, and from no other.
// Afterwards the server must hold no participant, room, track or
// connection, and goroutines, file descriptors and the heap after a
// forced collection must be back at their baseline.
//
// `make test` runs it for soakCI; -soak=1h runs it for an hour, logging
// the figures every minute (use -v to see them as they come).
func TestSoak(t *testing.T) {
	churn := *soakFor
	if testing.Short() && churn == soakCI {
		churn = 20 * time.Second
	}
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < churn+3*time.Minute {
		t.Fatalf("-soak=%v needs a longer -timeout (%v left): use -timeout 0, or the churn plus 3 minutes",
			churn, time.Until(deadline).Round(time.Second))
	}
	ts := newTestServer(t, nil)

	// The first join starts what lives as long as the process (pion's
	// and the runtime's lazily started workers, buffer pools): one
	// round of warm-up, so the baseline counts them.
	soakWarmUp(t, ts)
	if c := settle(time.Now().Add(soakSettle), serverEmpty(ts)); c != "" {
		t.Fatalf("server not empty after the warm-up: %s", c)
	}
	baseFDs := openFDs()
	base := readProcFigures()
	ignore := goleak.IgnoreCurrent()
	t.Logf("soak: %v of churn, %d participants in %d rooms; start: %s", churn, soakWorkers, soakRooms, base)

	s := &soak{t: t, ts: ts}
	ctx, cancel := context.WithTimeout(context.Background(), churn)
	defer cancel()
	var wg sync.WaitGroup
	seed := uint64(time.Now().UnixNano())
	for i := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Staggered over the first 3 s, so the rooms fill as they would.
			if sleepCtx(ctx, time.Duration(i)*100*time.Millisecond) {
				s.worker(ctx, rand.New(rand.NewPCG(seed, uint64(i))))
			}
		}()
	}
	stopLog := s.logEvery(soakLogInterval(churn), base)
	wg.Wait()
	stopLog()
	s.logProgress("churn over", base)

	// Every client is closed: what remains is the server's.
	s.roster.clear()
	deadline := time.Now().Add(soakSettle)
	if c := settle(deadline, serverEmpty(ts)); c != "" {
		t.Errorf("the server still holds %s", c)
	}
	if c := settle(deadline, func() string { return leakedGoroutines(ignore) }); c != "" {
		t.Errorf("goroutines leaked: %s", c)
	}
	if c := settle(deadline, func() string {
		if n := len(openFDs()); n > base.FDs+soakFDSlack {
			return fmt.Sprintf("%d open against %d at the start; new: %s", n, base.FDs, newFDs(baseFDs))
		}
		return ""
	}); c != "" {
		t.Errorf("file descriptors leaked: %s", c)
	}
	joins := s.joins.Load()
	var end procFigures
	if c := settle(deadline, func() string {
		end = readProcFigures()
		if end.HeapAlloc > base.HeapAlloc+soakHeapSlack {
			return fmt.Sprintf("%s after GC against %s at the start: %.1f KiB for each of %d joins",
				mib(end.HeapAlloc), mib(base.HeapAlloc), float64(end.HeapAlloc-base.HeapAlloc)/1024/float64(max(joins, 1)), joins)
		}
		return ""
	}); c != "" {
		t.Errorf("heap leaked: %s", c)
	}
	t.Logf("soak: start: %s", base)
	t.Logf("soak: end:   %s; server: %s", end, ts.state())

	if joins < soakWorkers {
		t.Errorf("only %d joins in %v", joins, churn)
	}
	if s.videoPairs.Load() == 0 {
		t.Errorf("of %d pairs checked, none received video: the check checked nothing", s.pairs.Load())
	}
	if n := s.failures.Load(); n > soakMaxReported {
		t.Errorf("and %d more failures", n-soakMaxReported)
	}
}

func soakLogInterval(churn time.Duration) time.Duration {
	if churn >= 10*time.Minute {
		return time.Minute
	}
	return 30 * time.Second
}

// soakWarmUp has two participants exchange media and leave, one cleanly
// and one abruptly.
func soakWarmUp(t *testing.T, ts *testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := ts.join(ctx, "soak-warm-up"), ts.join(ctx, "soak-warm-up")
	for _, c := range []*loadtest.Client{a, b} {
		if err := c.Publish(soakMedia); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "the warm-up pair to receive each other", func() bool {
		av, aok := videoFrom(a, b.Self.ID)
		bv, bok := videoFrom(b, a.Self.ID)
		return aok && bok && av.Packets >= soakMinVideo && bv.Packets >= soakMinVideo
	})
	a.Leave()
	b.Close()
}

func serverEmpty(ts *testServer) func() string {
	return func() string {
		if st := ts.state(); st != (serverState{}) {
			return st.String()
		}
		return ""
	}
}
