package sfu

import (
	"sync"
	"time"
)

// Bandwidth estimation tuning. Delay is the one-way queueing delay above the
// smallest seen recently; a link whose queue grows past overuseDelay, or
// that loses more than overuseLoss, is overused.
const (
	bweInitial        = 3_000_000 // bits/s before any feedback
	bweMin            = 50_000
	bweMax            = 20_000_000
	overuseDelay      = 70 * time.Millisecond
	underuseDelay     = 15 * time.Millisecond
	overuseLoss       = 0.10
	growLoss          = 0.02
	overuseFeedbacks  = 4 // consecutive feedbacks with a long queue before it counts
	decreaseFactor    = 0.85
	decreaseCooldown  = 1200 * time.Millisecond // an SFU acts on a decrease only at the next allocation and keyframe
	increaseHold      = time.Second             // after a decrease
	multiplicativeUp  = 0.35                    // per second, far from the last congestion
	additiveUp        = 60_000                  // bits/s per second, near the last congestion
	additiveShare     = 0.15                    // or this share of the estimate per second, if more
	capacityHold      = 8 * time.Second         // after congestion, stay under the rate that congested this long
	congestionEpisode = 5 * time.Second         // decreases this close together answer one congestion
	congestionMemory  = 30 * time.Second
	baseDelayWindow   = 10 * time.Second
	deliveredWindow   = 500 * time.Millisecond
	deliveredMinSpan  = 100 * time.Millisecond // the shortest span of arrivals that measures a rate since a queue began
	feedbackFreshness = 2 * time.Second
)

// ackSample is what one transport-wide feedback said about one packet.
type ackSample struct {
	sent    time.Time // when we sent it (our clock)
	arrival time.Time // when it arrived (the receiver's clock); zero if lost
	size    int
	lost    bool
}

// BandwidthEstimator estimates how fast the SFU may send to one
// subscriber, from transport-wide congestion control feedback (RFC 8888's
// predecessor, draft-holmer-rmcat-transport-wide-cc-extensions), falling
// back to the subscriber's REMB when it sends no such feedback.
//
// It is a delay- and loss-based AIMD controller in the spirit of Google
// Congestion Control, with one difference that matters to an SFU: far from
// the last congestion point it grows by 35% a second rather than 8%, so a
// subscriber whose link recovers climbs back to the top simulcast layer in
// seconds instead of half a minute. Near the rate that last congested the
// link it grows additively, so it does not keep knocking on the same wall.
type BandwidthEstimator struct {
	mu          sync.Mutex // guards everything below
	estimate    float64
	lastUpdate  time.Time
	lastDecr    time.Time
	holdUntil   time.Time
	congestedAt float64 // delivered rate when the link was last overused
	congestedT  time.Time
	twccAt      time.Time // when TWCC feedback last arrived
	remb        float64
	rembAt      time.Time
	base        []delaySample // one-way delay minima, one per second
	delivered   []deliverySample
	lastDelay   time.Duration
	lastLoss    float64
	losses      []lossSample  // per feedback, over lossWindow
	queued      int           // consecutive feedbacks with a growing queue over overuseDelay
	queuedFrom  time.Time     // arrival (receiver's clock) of the first packet of that run
	prevQueue   time.Duration // the queue of the previous feedback

	probe ProbeStats // what feedback said of the packets sent since StartProbe

	// decreased is signalled, without blocking, when the estimate drops,
	// so that the subscriber's layers are chosen again at once rather than
	// at the next periodic allocation.
	decreased chan struct{}
}

type delaySample struct {
	at  time.Time
	min time.Duration
}

type lossSample struct {
	at          time.Time
	lost, total int
}

// lossWindow is how much feedback the loss ratio is judged over: one
// feedback carries too few packets to tell 5% from 20%.
const lossWindow = time.Second

type deliverySample struct {
	arrival time.Time
	bits    int
}

// NewBandwidthEstimator returns an estimator starting at 3 Mbit/s: high
// enough for a few video streams at once, and lowered within a second on a
// link that cannot carry it.
func NewBandwidthEstimator() *BandwidthEstimator {
	return &BandwidthEstimator{estimate: bweInitial, decreased: make(chan struct{}, 1)}
}

// Decreased is signalled when the estimate drops.
func (e *BandwidthEstimator) Decreased() <-chan struct{} { return e.decreased }

// Estimate returns the estimated available bitrate in bits per second.
// ok is false when the subscriber sends no usable feedback at all, in
// which case nothing limits what it is sent.
func (e *BandwidthEstimator) Estimate(now time.Time) (bps int64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !e.twccAt.IsZero() && now.Sub(e.twccAt) < feedbackFreshness:
		return int64(e.estimate), true
	case !e.rembAt.IsZero() && now.Sub(e.rembAt) < feedbackFreshness:
		return int64(e.remb), true
	}
	return 0, false
}

// Stats returns the last queueing delay and loss ratio seen, for debugging.
func (e *BandwidthEstimator) Stats() (delay time.Duration, loss float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastDelay, e.lastLoss
}

// OnREMB records a receiver's own estimate. A REMB can say up to about
// 2^87 bit/s, past what an int64 holds; the estimate is capped at bweMax,
// as TWCC's is.
func (e *BandwidthEstimator) OnREMB(bps float64, now time.Time) {
	e.mu.Lock()
	e.remb, e.rembAt = min(bps, bweMax), now
	e.mu.Unlock()
}

// OnFeedback updates the estimate from one feedback message.
func (e *BandwidthEstimator) OnFeedback(acks []ackSample, now time.Time) {
	if len(acks) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.twccAt = now
	// Packets sent before the last decrease tell of the congestion already
	// answered: one decrease per congestion event, not one per feedback
	// while the bottleneck's queue drains.
	fresh := 0
	var queueSum time.Duration
	var firstArrival time.Time
	for _, a := range acks {
		if !a.lost {
			if firstArrival.IsZero() || a.arrival.Before(firstArrival) {
				firstArrival = a.arrival
			}
			e.delivered = append(e.delivered, deliverySample{arrival: a.arrival, bits: a.size * 8})
			// The two clocks differ by an unknown offset: only changes in
			// this difference mean anything. Subtract as integers, because
			// time.Time.Sub saturates when the offset is decades.
			e.addBase(time.Duration(a.arrival.UnixNano()-a.sent.UnixNano()), now)
		}
	}
	base := e.baseDelay()
	freshLost := 0
	for _, a := range acks {
		if !a.sent.After(e.lastDecr) {
			continue
		}
		fresh++
		if a.lost {
			freshLost++
			continue
		}
		queueSum += time.Duration(a.arrival.UnixNano()-a.sent.UnixNano()) - base
	}
	loss := e.lossRatio(freshLost, fresh, now)
	var queue time.Duration
	if fresh > freshLost {
		queue = queueSum / time.Duration(fresh-freshLost)
	}
	e.lastDelay, e.lastLoss = queue, loss
	e.probe.add(acks, queue)
	rate := e.deliveredRate()

	dt := now.Sub(e.lastUpdate)
	if e.lastUpdate.IsZero() || dt > 500*time.Millisecond {
		dt = 500 * time.Millisecond
	}
	e.lastUpdate = now
	if fresh == 0 {
		return
	}

	// Overuse is a long queue that is not shrinking: once a decrease has
	// taken effect the bottleneck drains, and cutting again while it does
	// would take the estimate far below the capacity.
	draining := queue < e.prevQueue-5*time.Millisecond
	e.prevQueue = queue
	if queue > overuseDelay && !draining {
		if e.queued == 0 {
			e.queuedFrom = firstArrival
		}
		e.queued++
	} else if !draining {
		e.queued = 0
	}
	switch {
	case e.queued >= overuseFeedbacks || (loss > overuseLoss && !draining):
		if now.Sub(e.lastDecr) < decreaseCooldown {
			return
		}
		var target float64
		// Loss with a long queue is a bottleneck's queue overflowing: its
		// delivered rate says the capacity, as when the queue alone
		// told, and loss often tells first.
		if e.queued >= overuseFeedbacks || (e.queued > 0 && queue > overuseDelay) {
			// A queue is building: send a little less than gets through,
			// which on a saturated link is its capacity.
			target = e.estimate * decreaseFactor
			// What got through since the queue began to build is the
			// link's capacity; the last half second still counts the
			// faster arrivals from before the link narrowed.
			r := e.deliveredSince(e.queuedFrom)
			if r == 0 && e.queued < overuseFeedbacks {
				// Loss told before the queue had lasted long enough to
				// measure what gets through (a keyframe overflowing a
				// narrowed link at once): the last half second's rate is
				// still the faster link's, so wait a feedback or two for
				// the measure rather than cut to a rate the link lacks.
				return
			}
			if r > 0 {
				rate = r
			}
			if rate > 0 {
				target = min(target, rate*decreaseFactor)
			}
			// Within one congestion episode the first decrease measured the
			// capacity best; later ones see the link half idle while the
			// old layer drains and would take the estimate far below it.
			if now.Sub(e.congestedT) < congestionEpisode {
				target = max(target, decreaseFactor*e.congestedAt)
			}
		} else {
			// Heavy loss without a queue (a lossy radio link, a policer):
			// back off in proportion, as Google Congestion Control does,
			// from what was sent rather than from an estimate that may
			// have grown far above it.
			base := e.estimate
			if rate > 0 && loss < 1 {
				base = min(base, rate/(1-loss))
			}
			target = base * (1 - loss/2)
		}
		e.estimate = max(target, bweMin)
		e.lastDecr, e.holdUntil, e.queued = now, now.Add(increaseHold), 0
		select {
		case e.decreased <- struct{}{}:
		default:
		}
		e.losses = e.losses[:0]
		if rate > 0 {
			// The first decrease of an episode sees the link saturated, so
			// its delivered rate is the best measure of the capacity; later
			// ones see us already backing off.
			if now.Sub(e.congestedT) < congestionEpisode {
				rate = max(rate, e.congestedAt)
			}
			e.congestedAt, e.congestedT = rate, now
		}
	case queue < underuseDelay && loss < growLoss && !now.Before(e.holdUntil):
		near := e.congestedAt > 0 && now.Sub(e.congestedT) < congestionMemory && e.estimate < 1.5*e.congestedAt
		switch {
		case e.congestedAt > 0 && now.Sub(e.congestedT) < capacityHold:
			// The link just showed its capacity: stay under it for a
			// while rather than try the same wall again at once.
			e.estimate = max(e.estimate, min(e.estimate+additiveUp*dt.Seconds(), 0.95*e.congestedAt))
		case near:
			e.estimate += max(additiveUp, additiveShare*e.estimate) * dt.Seconds()
		default:
			e.estimate *= 1 + multiplicativeUp*dt.Seconds()
		}
		e.estimate = max(min(e.estimate, bweMax), bweMin)
	}
}

// ProbeStats is what transport-wide feedback said of the packets sent
// since a probe began.
type ProbeStats struct {
	from, until time.Time // our clock: the probe's packets were sent in between; zero: no probe
	mid         time.Time // our clock: the second half of the probe begins
	late        arrivals  // of the second half of the probe
	Lost, Total int
	MaxQueue    time.Duration // the longest queue a feedback showed meanwhile
	Decreased   bool          // the estimate was lowered meanwhile
}

// arrivals measure a receive rate.
type arrivals struct {
	first, last time.Time // the receiver's clock
	bits        int       // delivered after the first arrival
}

func (a *arrivals) add(at time.Time, bits int) {
	switch {
	case a.first.IsZero():
		a.first, a.last = at, at
		return // its bits arrived before the span begins
	case at.Before(a.first):
		a.first = at
	case at.After(a.last):
		a.last = at
	}
	a.bits += bits
}

func (a arrivals) rate() float64 {
	span := a.last.Sub(a.first)
	if span < 100*time.Millisecond {
		return 0
	}
	return float64(a.bits) / span.Seconds()
}

// LateRate is the rate the second half of the probe's packets arrived
// at. A token-bucket bottleneck lets a burst through at line rate; by the
// second half of a probe that exceeds its rate, the bucket is empty and
// only the rate it really carries gets through.
func (s ProbeStats) LateRate() float64 { return s.late.rate() }

func (s *ProbeStats) add(acks []ackSample, queue time.Duration) {
	if s.from.IsZero() {
		return
	}
	counted := false
	for _, a := range acks {
		if a.sent.Before(s.from) || (!s.until.IsZero() && a.sent.After(s.until)) {
			continue
		}
		counted = true
		s.Total++
		if a.lost {
			s.Lost++
			continue
		}
		if !a.sent.Before(s.mid) {
			s.late.add(a.arrival, a.size*8)
		}
	}
	if counted {
		s.MaxQueue = max(s.MaxQueue, queue)
	}
}

// StartProbe begins collecting ProbeStats for the packets sent from now
// on, by a probe meant to last length.
func (e *BandwidthEstimator) StartProbe(now time.Time, length time.Duration) {
	e.mu.Lock()
	e.probe = ProbeStats{from: now, mid: now.Add(length / 2)}
	e.mu.Unlock()
}

// Probe returns what feedback has said so far of the packets sent since
// StartProbe.
func (e *BandwidthEstimator) Probe() ProbeStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.probe
	s.Decreased = !s.from.IsZero() && e.lastDecr.After(s.from)
	return s
}

// ProbeSucceeded raises the estimate to rate, which a probe showed the
// link carries without a queue, and forgets the capacity the link showed
// when it was last congested: it has grown since.
func (e *BandwidthEstimator) ProbeSucceeded(rate float64, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.probe = ProbeStats{}
	if rate <= e.estimate {
		return
	}
	e.estimate = min(rate, bweMax)
	if rate > e.congestedAt {
		e.congestedAt, e.congestedT = 0, time.Time{}
	}
	e.holdUntil = now
}

// StopProbe marks the end of the probe's packets: ProbeStats go on
// collecting feedback about those sent before now.
func (e *BandwidthEstimator) StopProbe(now time.Time) {
	e.mu.Lock()
	if !e.probe.from.IsZero() && e.probe.until.IsZero() {
		e.probe.until = now
	}
	e.mu.Unlock()
}

// EndProbe stops collecting ProbeStats.
func (e *BandwidthEstimator) EndProbe() {
	e.mu.Lock()
	e.probe = ProbeStats{}
	e.mu.Unlock()
}

// lossRatio adds a feedback's counts and returns the loss over lossWindow.
func (e *BandwidthEstimator) lossRatio(lost, total int, now time.Time) float64 {
	e.losses = append(e.losses, lossSample{at: now, lost: lost, total: total})
	i := 0
	for i < len(e.losses)-1 && now.Sub(e.losses[i].at) > lossWindow {
		i++
	}
	e.losses = e.losses[i:]
	lost, total = 0, 0
	for _, s := range e.losses {
		lost += s.lost
		total += s.total
	}
	return float64(lost) / float64(total)
}

// addBase keeps the minimum one-way delay per second over baseDelayWindow.
func (e *BandwidthEstimator) addBase(owd time.Duration, now time.Time) {
	n := len(e.base)
	if n > 0 && now.Sub(e.base[n-1].at) < time.Second {
		e.base[n-1].min = min(e.base[n-1].min, owd)
		return
	}
	e.base = append(e.base, delaySample{at: now, min: owd})
	for len(e.base) > 1 && now.Sub(e.base[0].at) > baseDelayWindow {
		e.base = e.base[1:]
	}
}

// baseDelay is the smallest one-way delay over baseDelayWindow, or 0
// while no packet has been reported received: then a feedback holds only
// losses, and nothing is measured against it.
func (e *BandwidthEstimator) baseDelay() time.Duration {
	if len(e.base) == 0 {
		return 0
	}
	m := e.base[0].min
	for _, s := range e.base[1:] {
		m = min(m, s.min)
	}
	return m
}

// deliveredSince is the receive rate of the packets that arrived from
// from on (the receiver's clock), or 0 if they span too short a time to
// tell.
func (e *BandwidthEstimator) deliveredSince(from time.Time) float64 {
	if from.IsZero() || len(e.delivered) == 0 {
		return 0
	}
	newest := e.delivered[len(e.delivered)-1].arrival
	bits, first := 0, time.Time{}
	for _, d := range e.delivered {
		if d.arrival.Before(from) {
			continue
		}
		if first.IsZero() {
			// The first packet's bits arrived before the span begins.
			first = d.arrival
			continue
		}
		bits += d.bits
	}
	span := newest.Sub(first)
	if first.IsZero() || span < deliveredMinSpan {
		return 0
	}
	return float64(bits) / span.Seconds()
}

// deliveredRate is the receive rate over the last deliveredWindow of arrivals.
func (e *BandwidthEstimator) deliveredRate() float64 {
	if len(e.delivered) == 0 {
		return 0
	}
	newest := e.delivered[len(e.delivered)-1].arrival
	i := 0
	for i < len(e.delivered) && newest.Sub(e.delivered[i].arrival) > deliveredWindow {
		i++
	}
	e.delivered = e.delivered[i:]
	span := newest.Sub(e.delivered[0].arrival)
	if span < 200*time.Millisecond {
		return 0
	}
	bits := 0
	for _, d := range e.delivered {
		bits += d.bits
	}
	return float64(bits) / span.Seconds()
}
