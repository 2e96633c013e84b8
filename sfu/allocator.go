package sfu

import (
	"sort"
	"time"
)

// VideoDemand is one video track a subscriber receives, as the Allocator
// sees it.
type VideoDemand struct {
	TrackID string
	// Screen marks a shared screen: it comes before every other track
	// when the budget is short, whatever their Priority. A screen is
	// text and detail that is unreadable at a low layer, and it is what
	// everybody looks at while it is shared; a camera picture survives a
	// step down.
	Screen bool
	// Priority orders tracks when the budget is short: higher first (the
	// active speaker, then tracks shown larger), after the screens.
	Priority int
	// MaxLayer is the highest layer the subscriber wants (its cap).
	MaxLayer int
	// Bitrates are what each layer costs now, in bits/s; 0 means the
	// publisher is not sending that layer.
	Bitrates [MaxLayers]int64
	// Current is the layer the track was last given (-1: paused).
	Current int
}

// Allocator splits a subscriber's bandwidth estimate over its video
// tracks, choosing a simulcast layer for each. It steps down at once when
// the budget shrinks, to a layer that fits with headroom, and steps up
// only when the better layer has fitted with headroom for upHold; a track that has to come back down soon after
// stepping up waits exponentially longer before trying again, so that it
// never flaps. It is pure logic: time is passed in.
type Allocator struct {
	upHold   time.Duration
	headroom float64
	state    map[string]*allocState
}

type allocState struct {
	candidate    int       // the layer that has been fitting
	fitsSince    time.Time // since when it has fitted
	upAt         time.Time // when the track last stepped up
	penalty      time.Duration
	penaltyUntil time.Time
}

const (
	allocUpHold       = time.Second
	allocHeadroom     = 1.15
	allocFlapWindow   = 5 * time.Second // stepping down within this of a step up is a failed try
	allocPenaltyFirst = 4 * time.Second
	allocPenaltyMax   = 60 * time.Second
	pauseTolerancePct = 25 // of the lowest layer's bitrate, before flowing video pauses
)

// NewAllocator returns an Allocator with the default hysteresis.
func NewAllocator() *Allocator {
	return &Allocator{upHold: allocUpHold, headroom: allocHeadroom, state: map[string]*allocState{}}
}

// Allocate returns the layer for each demand, in the same order (-1:
// paused). budget is the bits/s available for video; known is false when
// the subscriber gives no feedback to estimate with, and then every track
// gets the highest layer it wants.
func (a *Allocator) Allocate(now time.Time, budget int64, known bool, demands []VideoDemand) []int {
	out := make([]int, len(demands))
	a.forget(demands)
	if !known {
		for i, d := range demands {
			out[i] = highest(d)
		}
		return out
	}
	order := make([]int, len(demands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		dx, dy := demands[order[x]], demands[order[y]]
		if dx.Screen != dy.Screen {
			return dx.Screen
		}
		if dx.Priority != dy.Priority {
			return dx.Priority > dy.Priority
		}
		return dx.TrackID < dy.TrackID
	})

	// First every track its lowest layer, in priority order, while they
	// fit. Video already flowing is paused only when a quarter of its
	// lowest layer is missing: stopping a picture is worse than a small
	// shortfall, which the estimate's own margin absorbs.
	left := budget
	for _, i := range order {
		out[i] = -1
		l := lowest(demands[i])
		if l < 0 {
			continue
		}
		need := demands[i].Bitrates[l]
		if demands[i].Current >= 0 {
			need = need * (100 - pauseTolerancePct) / 100
		}
		if need <= left {
			out[i] = l
			left -= demands[i].Bitrates[l]
		}
	}
	// Then climb, in priority order, as far as the rest allows.
	for _, i := range order {
		d, base := demands[i], out[i]
		chosen := a.choose(now, d, base, left)
		left -= cost(d, chosen) - cost(d, base)
		out[i] = chosen
	}
	return out
}

// choose picks one track's layer: base is the lowest layer it was given
// (-1: none fits), left what the budget still has beyond that.
func (a *Allocator) choose(now time.Time, d VideoDemand, base int, left int64) int {
	st := a.stateOf(d.TrackID)
	if base < 0 {
		a.steppedTo(now, st, d, -1)
		return -1
	}
	chosen := a.fitting(d, base, left, false)
	if chosen > d.Current {
		// Something better than now fits: move up only to a layer that
		// fits with headroom, and only once it has for upHold.
		up := a.fitting(d, base, left, true)
		if up > d.Current {
			if st.candidate != up {
				st.candidate, st.fitsSince = up, now
			}
			if now.Sub(st.fitsSince) < a.upHold || now.Before(st.penaltyUntil) {
				up = d.Current
			}
		}
		chosen = up
		if d.Current < 0 && chosen >= 0 {
			// A paused track resumes on its lowest layer and climbs from
			// there like any other: the link has only just shown room.
			chosen = base
		}
		if chosen >= 0 && chosen < base {
			chosen = base
		}
	} else {
		st.candidate = -2
		if chosen < d.Current && d.Current <= d.MaxLayer {
			// The budget forces a step down: to a layer that fits with
			// headroom, as a climb must. One that only just fits is
			// outgrown by the next swing of the publisher's bitrate, and
			// the step down would take two steps, each waiting for a
			// keyframe.
			chosen = a.fitting(d, base, left, true)
		}
	}
	a.steppedTo(now, st, d, chosen)
	return chosen
}

// steppedTo records a layer change for the flap penalty. Only a step down
// forced by the budget counts as a failed climb: one the subscriber asked
// for by lowering its cap does not.
func (a *Allocator) steppedTo(now time.Time, st *allocState, d VideoDemand, to int) {
	from := d.Current
	switch {
	case to > from:
		st.upAt, st.candidate = now, -2
	case to < from && from <= d.MaxLayer && !st.upAt.IsZero() && now.Sub(st.upAt) < allocFlapWindow:
		// The last step up did not hold: wait longer before the next.
		st.penalty = min(max(2*st.penalty, allocPenaltyFirst), allocPenaltyMax)
		st.penaltyUntil = now.Add(st.penalty)
	}
}

func cost(d VideoDemand, layer int) int64 {
	if layer < 0 {
		return 0
	}
	return d.Bitrates[layer]
}

// fitting is the highest layer not above the cap whose extra cost over
// base fits in left (with headroom if asked).
func (a *Allocator) fitting(d VideoDemand, base int, left int64, headroom bool) int {
	var baseCost int64
	if base >= 0 {
		baseCost = d.Bitrates[base]
	}
	for l := min(d.MaxLayer, MaxLayers-1); l >= 0; l-- {
		cost := d.Bitrates[l]
		if cost == 0 {
			continue
		}
		need := cost
		if headroom {
			need = int64(float64(cost) * a.headroom)
		}
		if need-baseCost <= left {
			return l
		}
	}
	return base
}

func (a *Allocator) stateOf(id string) *allocState {
	st, ok := a.state[id]
	if !ok {
		st = &allocState{candidate: -2}
		a.state[id] = st
	}
	return st
}

// forget drops the state of tracks no longer demanded.
func (a *Allocator) forget(demands []VideoDemand) {
	if len(a.state) <= len(demands) {
		return
	}
	keep := make(map[string]bool, len(demands))
	for _, d := range demands {
		keep[d.TrackID] = true
	}
	for id := range a.state {
		if !keep[id] {
			delete(a.state, id)
		}
	}
}

func lowest(d VideoDemand) int {
	for l := 0; l <= min(d.MaxLayer, MaxLayers-1); l++ {
		if d.Bitrates[l] > 0 {
			return l
		}
	}
	return -1
}

func highest(d VideoDemand) int {
	for l := min(d.MaxLayer, MaxLayers-1); l >= 0; l-- {
		if d.Bitrates[l] > 0 {
			return l
		}
	}
	return -1
}
