package rtp

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyframeThrottle(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name     string
		interval time.Duration
		calls    []int // milliseconds after t0
		want     []bool
	}{
		{"first allowed", time.Second, []int{0}, []bool{true}},
		{"within interval refused", time.Second, []int{0, 1, 500, 999}, []bool{true, false, false, false}},
		{"interval boundary allowed", time.Second, []int{0, 1000, 1999, 2000}, []bool{true, true, false, true}},
		{"refusals do not extend the interval", time.Second, []int{0, 900, 1000}, []bool{true, false, true}},
		{"clock behind last allowed refused", time.Second, []int{5000, 4000, 6000}, []bool{true, false, true}},
		{"zero interval allows all", 0, []int{0, 0, 0}, []bool{true, true, true}},
		{"first call at unix zero", time.Second, []int{-1_700_000_000_000, -1_699_999_999_500}, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := NewKeyframeThrottle(tt.interval)
			for i, ms := range tt.calls {
				if got := th.Allow(at(ms)); got != tt.want[i] {
					t.Fatalf("call %d at +%dms: Allow = %v, want %v", i, ms, got, tt.want[i])
				}
			}
		})
	}
}

func TestKeyframeThrottleZeroValue(t *testing.T) {
	var th KeyframeThrottle
	now := time.Unix(100, 0)
	if !th.Allow(now) || !th.Allow(now) {
		t.Fatal("zero KeyframeThrottle refused a request")
	}
}

// TestKeyframeThrottleConcurrent checks that racing callers with the same
// time get exactly one request through.
func TestKeyframeThrottleConcurrent(t *testing.T) {
	th := NewKeyframeThrottle(time.Second)
	now := time.Unix(1000, 0)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				if th.Allow(now) {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 1 {
		t.Fatalf("%d requests allowed, want 1", n)
	}
}

func TestKeyframeThrottleAllocs(t *testing.T) {
	th := NewKeyframeThrottle(time.Millisecond)
	now := time.Unix(0, 0)
	n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond / 2)
		th.Allow(now)
	})
	if n != 0 {
		t.Fatalf("Allow allocates %v times per call", n)
	}
}

func BenchmarkKeyframeThrottleAllow(b *testing.B) {
	b.ReportAllocs()
	th := NewKeyframeThrottle(time.Millisecond)
	now := time.Unix(0, 0)
	for b.Loop() {
		now = now.Add(time.Millisecond / 4)
		th.Allow(now)
	}
}
