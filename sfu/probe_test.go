package sfu

import (
	"testing"
	"time"
)

// probeRun drives a Prober through one probe on a fake clock: padding
// every 20 ms for as long as it asks, then feedback stats, then the
// verdict.
func probeRun(t *testing.T, p *Prober, now time.Time, estimate, want int64, stats func(elapsed time.Duration) ProbeStats) (ProbeVerdict, int64, time.Time) {
	t.Helper()
	goal, ok := p.Begin(now, estimate, want)
	if !ok {
		t.Fatalf("no probe begun at estimate %d, want %d", estimate, want)
	}
	start := now
	for p.PadRate(now, estimate/2, stats(now.Sub(start))) > 0 {
		now = now.Add(20 * time.Millisecond)
		if now.Sub(start) > time.Second {
			t.Fatal("padding still going after 1 s")
		}
	}
	for {
		now = now.Add(100 * time.Millisecond)
		if v, _ := p.Judge(now, stats(now.Sub(start))); v != ProbePending {
			return v, goal, now
		}
		if now.Sub(start) > 3*time.Second {
			t.Fatal("no verdict after 3 s")
		}
	}
}

// delivered is feedback for a probe whose packets arrived at rate with
// the given queue.
func delivered(rate int64, queue time.Duration) func(time.Duration) ProbeStats {
	return func(elapsed time.Duration) ProbeStats {
		arrival := time.Unix(100, 0)
		span := min(elapsed, probeLength)
		at := arrivals{first: arrival, last: arrival.Add(span), bits: int(float64(rate) * span.Seconds())}
		return ProbeStats{from: time.Unix(1, 0), late: at, Total: 100, MaxQueue: queue}
	}
}

func TestProberGoalAndSuccess(t *testing.T) {
	var p Prober
	now := time.Unix(1_800_000_000, 0)
	v, goal, now := probeRun(t, &p, now, 300_000, 2_000_000, delivered(600_000, 2*time.Millisecond))
	if goal != 600_000 {
		t.Errorf("goal %d, want twice the estimate, 600000", goal)
	}
	if v != ProbeSucceeded {
		t.Fatalf("verdict %v, want success", v)
	}
	// Close to what is wanted, the goal is the want plus the margin.
	if _, ok := p.Begin(now.Add(probeGap/2), 600_000, 700_000); ok {
		t.Error("a probe began within probeGap of a success")
	}
	if goal, ok := p.Begin(now.Add(probeGap), 600_000, 700_000); !ok || goal != 770_000 {
		t.Errorf("next probe: goal %d ok %v, want 770000 (want+10%%)", goal, ok)
	}
}

func TestProberNoProbeWhenNotNeededOrJustDropped(t *testing.T) {
	var p Prober
	now := time.Unix(1_800_000_000, 0)
	if _, ok := p.Begin(now, 2_000_000, 1_500_000); ok {
		t.Error("probed although the estimate covers what is wanted")
	}
	p.Dropped(now)
	if _, ok := p.Begin(now.Add(probeQuiet-time.Millisecond), 300_000, 1_500_000); ok {
		t.Error("probed right after the estimate dropped")
	}
	if _, ok := p.Begin(now.Add(probeQuiet), 300_000, 1_500_000); !ok {
		t.Error("no probe once the link was quiet")
	}
}

func TestProberFailuresBackOff(t *testing.T) {
	cases := []struct {
		name  string
		stats func(time.Duration) ProbeStats
	}{
		{"queue", delivered(600_000, 50*time.Millisecond)},
		// Only the second half counts: a token bucket's burst may carry
		// the first half through at any rate.
		{"too little got through in the second half", delivered(350_000, 0)},
		{"no feedback", func(e time.Duration) ProbeStats { s := delivered(600_000, 0)(e); s.Total = 5; return s }},
		{"loss", func(e time.Duration) ProbeStats { s := delivered(600_000, 0)(e); s.Lost = 10; return s }},
		{"estimate dropped", func(e time.Duration) ProbeStats { s := delivered(600_000, 0)(e); s.Decreased = true; return s }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Prober
			now := time.Unix(1_800_000_000, 0)
			var gaps []time.Duration
			for range 5 {
				v, _, end := probeRun(t, &p, now, 300_000, 2_000_000, c.stats)
				if v != ProbeFailed {
					t.Fatalf("verdict %v, want failure", v)
				}
				// The next probe waits: find when it may begin.
				next := end
				for ; ; next = next.Add(100 * time.Millisecond) {
					if _, ok := p.Begin(next, 300_000, 2_000_000); ok {
						break
					}
				}
				gaps = append(gaps, next.Sub(end).Round(100*time.Millisecond))
				p = Prober{backoff: p.backoff, lastDrop: p.lastDrop} // forget the probe just begun
				now = next
			}
			want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
			for i := range want {
				if gaps[i] != want[i] {
					t.Fatalf("waits between failed probes %v, want %v", gaps, want)
				}
			}
		})
	}
}

func TestProberStopsPaddingEarlyOnAQueue(t *testing.T) {
	var p Prober
	now := time.Unix(1_800_000_000, 0)
	if _, ok := p.Begin(now, 300_000, 2_000_000); !ok {
		t.Fatal("no probe")
	}
	if r := p.PadRate(now, 150_000, ProbeStats{}); r != 150_000 {
		t.Errorf("pad rate %d at the start, want the estimate 300000 less the 150000 of media", r)
	}
	if r := p.PadRate(now.Add(probeLength/2), 150_000, ProbeStats{}); r != 300_000 {
		t.Errorf("pad rate %d half way, want 450000 less the 150000 of media", r)
	}
	if r := p.PadRate(now.Add(300*time.Millisecond), 150_000, ProbeStats{MaxQueue: 50 * time.Millisecond}); r != 0 {
		t.Errorf("pad rate %d with a 50 ms queue, want 0", r)
	}
	if v, _ := p.Judge(now.Add(150*time.Millisecond), ProbeStats{MaxQueue: 50 * time.Millisecond}); v != ProbeFailed {
		t.Errorf("verdict %v, want failure at once", v)
	}
}
