package sfu

import (
	"testing"
	"time"
)

// simulcastRates are typical layer costs: 150k, 500k, 1.5M bits/s.
var simulcastRates = [MaxLayers]int64{150_000, 500_000, 1_500_000}

func demand(id string, prio, current int) VideoDemand {
	return VideoDemand{TrackID: id, Priority: prio, MaxLayer: 2, Bitrates: simulcastRates, Current: current}
}

func TestAllocatorSingleTrack(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name    string
		budget  int64
		known   bool
		current int
		maxLay  int
		want    int
	}{
		{"no feedback: highest wanted", 0, false, -1, 2, 2},
		{"no feedback, capped", 0, false, -1, 1, 1},
		{"ample budget keeps the top", 5_000_000, true, 2, 2, 2},
		{"budget shrinks: step down at once", 600_000, true, 2, 2, 1},
		{"budget collapses: lowest", 200_000, true, 2, 2, 0},
		// 520k holds the middle layer's 500k, but not with headroom:
		// stepping there would soon need a second step.
		{"budget shrinks to just over the middle layer: lowest at once", 520_000, true, 2, 2, 0},
		{"the middle layer, still fitting, stays", 520_000, true, 1, 2, 1},
		{"lowest does not fit: pause", 100_000, true, 0, 2, -1},
		{"cap respected", 5_000_000, true, 1, 1, 1},
		{"budget grows: wait before climbing", 5_000_000, true, 0, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewAllocator()
			d := demand("v", 0, c.current)
			d.MaxLayer = c.maxLay
			got := a.Allocate(t0, c.budget, c.known, []VideoDemand{d})
			if got[0] != c.want {
				t.Errorf("layer %d, want %d", got[0], c.want)
			}
		})
	}
}

// run allocates one track every 500 ms over a budget schedule and returns
// the layers chosen, feeding each result back as the current layer.
func run(a *Allocator, start int, budgets []int64) []int {
	t := time.Unix(1000, 0)
	cur := start
	var out []int
	for _, b := range budgets {
		cur = a.Allocate(t, b, true, []VideoDemand{demand("v", 0, cur)})[0]
		out = append(out, cur)
		t = t.Add(500 * time.Millisecond)
	}
	return out
}

func TestAllocatorClimbsAfterHold(t *testing.T) {
	got := run(NewAllocator(), 0, []int64{5e6, 5e6, 5e6, 5e6, 5e6})
	// Fits from t=0; held 1 s; climbs straight to the top at t=1 s.
	want := []int{0, 0, 2, 2, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("layers %v, want %v", got, want)
		}
	}
}

func TestAllocatorResumesPausedAfterHold(t *testing.T) {
	got := run(NewAllocator(), 0, []int64{100_000, 100_000, 400_000, 400_000, 400_000, 400_000})
	want := []int{-1, -1, -1, -1, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("layers %v, want %v", got, want)
		}
	}
}

func TestAllocatorBacksOffAfterFailedClimb(t *testing.T) {
	a := NewAllocator()
	// Fits, climbs at 1 s, the link cannot take it (down at 2 s), then
	// the estimate says it fits again at once.
	got := run(a, 0, []int64{2e6, 2e6, 2e6, 2e6, 300_000, 2e6, 2e6, 2e6, 2e6, 2e6, 2e6, 2e6, 2e6, 2e6, 2e6, 2e6})
	upAgain := -1
	for i := 5; i < len(got); i++ {
		if got[i] == 2 {
			upAgain = i
			break
		}
	}
	if got[2] != 2 || got[4] != 0 {
		t.Fatalf("layers %v: want a climb at step 2 and a drop at step 4", got)
	}
	// Without the penalty it would climb again after 1 s (step 7); with it, 4 s later.
	if upAgain < 12 {
		t.Fatalf("layers %v: climbed again at step %d, before the 4 s penalty ended", got, upAgain)
	}
}

func TestAllocatorPriority(t *testing.T) {
	a := NewAllocator()
	t0 := time.Unix(1000, 0)
	// Room for one top layer and one bottom layer.
	demands := []VideoDemand{demand("a-small", 0, 2), demand("b-speaker", 10, 2)}
	got := a.Allocate(t0, 1_700_000, true, demands)
	if got[1] != 2 || got[0] != 0 {
		t.Fatalf("got %v: the speaker should keep the top layer, the other the lowest", got)
	}
	// Not even two lowest layers: the speaker keeps video, the other pauses.
	got = a.Allocate(t0, 200_000, true, demands)
	if got[1] != 0 || got[0] != -1 {
		t.Fatalf("got %v: want the speaker on layer 0 and the other paused", got)
	}
}

func TestAllocatorSkipsMissingLayers(t *testing.T) {
	a := NewAllocator()
	d := demand("v", 0, 2)
	d.Bitrates[2] = 0 // the publisher stopped sending its top layer
	if got := a.Allocate(time.Unix(1000, 0), 5e6, true, []VideoDemand{d}); got[0] != 1 {
		t.Fatalf("got layer %d, want 1 (2 is not being sent)", got[0])
	}
}

func TestAllocatorCapChangeIsNoFailedClimb(t *testing.T) {
	a := NewAllocator()
	t0 := time.Unix(1000, 0)
	d := demand("v", 0, 0)
	now := t0
	for d.Current != 2 { // climb to the top
		d.Current = a.Allocate(now, 5e6, true, []VideoDemand{d})[0]
		now = now.Add(500 * time.Millisecond)
	}
	d.MaxLayer = 0 // the subscriber shrinks the tile
	d.Current = a.Allocate(now, 5e6, true, []VideoDemand{d})[0]
	if d.Current != 0 {
		t.Fatalf("cap 0 gave layer %d", d.Current)
	}
	d.MaxLayer = 2 // and enlarges it again: back up after the normal hold only
	start := now
	for d.Current != 2 {
		now = now.Add(500 * time.Millisecond)
		d.Current = a.Allocate(now, 5e6, true, []VideoDemand{d})[0]
		if now.Sub(start) > 2*time.Second {
			t.Fatalf("still on layer %d %v after the cap was raised: penalized as a failed climb", d.Current, now.Sub(start))
		}
	}
}

func TestAllocatorScreenFirst(t *testing.T) {
	a := NewAllocator()
	t0 := time.Unix(1000, 0)
	screen := demand("screen", 0, 2)
	screen.Screen = true
	// Two cameras, the active speaker's among them, ranked above the
	// screen by Priority alone.
	demands := []VideoDemand{demand("cam-speaker", 10, 2), screen, demand("cam-other", 2, 2)}
	// Room for one top layer (with headroom) and the two lowest.
	budget := int64(float64(simulcastRates[2])*allocHeadroom) + 2*simulcastRates[0]
	got := a.Allocate(t0, budget, true, demands)
	if got[1] != 2 || got[0] != 0 || got[2] != 0 {
		t.Fatalf("got %v: the screen should keep the top layer and the cameras drop to the lowest", got)
	}
	// Room for one lowest layer only: the screen keeps video, the cameras pause.
	got = a.Allocate(t0, simulcastRates[0], true, demands)
	if got[1] != 0 || got[0] != -1 || got[2] != -1 {
		t.Fatalf("got %v: want the screen on layer 0 and both cameras paused", got)
	}
}
