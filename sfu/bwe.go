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
	lost        []lostSample // over lostMemory
	lastDelay   time.Duration
	lastQueue   time.Duration // over all the packets of the newest feedback
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

// QueueDelay returns the queueing delay the newest feedback showed over
// all its packets: about how long a packet sent now waits behind the
// others on the way.
func (e *BandwidthEstimator) QueueDelay() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastQueue
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
		if a.lost {
			e.addLost(a.sent, a.size*8, now)
			continue
		}
		if firstArrival.IsZero() || a.arrival.Before(firstArrival) {
			firstArrival = a.arrival
		}
		e.delivered = append(e.delivered, deliverySample{arrival: a.arrival, sent: a.sent, bits: a.size * 8})
		// The two clocks differ by an unknown offset: only changes in
		// this difference mean anything. Subtract as integers, because
		// time.Time.Sub saturates when the offset is decades.
		e.addBase(time.Duration(a.arrival.UnixNano()-a.sent.UnixNano()), now)
	}
	base := e.baseDelay()
	freshLost := 0
	var allSum time.Duration
	allArrived := 0
	for _, a := range acks {
		if a.lost {
			if a.sent.After(e.lastDecr) {
				fresh++
				freshLost++
			}
			continue
		}
		q := time.Duration(a.arrival.UnixNano()-a.sent.UnixNano()) - base
		allSum += q
		allArrived++
		if a.sent.After(e.lastDecr) {
			fresh++
			queueSum += q
		}
	}
	if allArrived > 0 {
		e.lastQueue = allSum / time.Duration(allArrived)
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
		if now.Sub(e.lastDecr) >= decreaseCooldown {
			e.decreaseLocked(now, queue, loss, rate)
		}
	case queue < underuseDelay && loss < growLoss && !now.Before(e.holdUntil):
		e.growLocked(now, dt)
	}
}

// decreaseLocked answers an overused link; rate is the last
// deliveredWindow's receive rate.
func (e *BandwidthEstimator) decreaseLocked(now time.Time, queue time.Duration, loss, rate float64) {
	var target float64
	// full: what got through since the queue began measured a link that
	// fell behind what it was sent (see linkMeasure).
	full := false
	// Loss with a long queue is a bottleneck's queue overflowing: its
	// delivered rate says the capacity, as when the queue alone told, and
	// loss often tells first.
	if e.queued >= overuseFeedbacks || (e.queued > 0 && queue > overuseDelay) {
		// A queue is building: send a little less than gets through,
		// which on a saturated link is its capacity.
		target = e.estimate * decreaseFactor
		// What got through since the queue began to build is the link's
		// capacity; the last half second still counts the faster
		// arrivals from before the link narrowed.
		m := e.deliveredSince(e.queuedFrom)
		if m.rate == 0 && e.queued < overuseFeedbacks {
			// Loss told before the queue had lasted long enough to
			// measure what gets through (a keyframe overflowing a
			// narrowed link at once): the last half second's rate is
			// still the faster link's, so wait a feedback or two for the
			// measure rather than cut to a rate the link lacks.
			return
		}
		if m.rate > 0 {
			rate, full = m.rate, m.full
		}
		if rate > 0 {
			target = min(target, rate*decreaseFactor)
		}
		// Within one congestion episode the first decrease measured the
		// capacity best; later ones may see the link half idle while the
		// old layer drains, and would take the estimate far below it. So
		// they stop at 85% of that measure, but only while the link keeps
		// up with what it is sent. One that falls behind is full: what
		// gets through is its capacity, even below the first measure (the
		// link narrowed again, or the first measure counted a burst), and
		// the estimate goes to 85% of it, or stays where it stood if that
		// is lower (more than the estimate was sent: retransmissions).
		if now.Sub(e.congestedT) < congestionEpisode {
			if full {
				target = max(target, min(e.estimate, decreaseFactor*rate))
			} else {
				target = max(target, decreaseFactor*e.congestedAt)
			}
		}
	} else {
		// Heavy loss without a queue (a lossy radio link, a policer):
		// back off in proportion, as Google Congestion Control does, from
		// what was sent rather than from an estimate that may have grown
		// far above it.
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
		// ones see us already backing off, unless the link was full.
		if now.Sub(e.congestedT) < congestionEpisode && !full {
			rate = max(rate, e.congestedAt)
		}
		e.congestedAt, e.congestedT = rate, now
	}
}

// growLocked raises the estimate of a link without a queue, dt after the
// last feedback.
func (e *BandwidthEstimator) growLocked(now time.Time, dt time.Duration) {
	near := e.congestedAt > 0 && now.Sub(e.congestedT) < congestionMemory && e.estimate < 1.5*e.congestedAt
	switch {
	case e.congestedAt > 0 && now.Sub(e.congestedT) < capacityHold:
		// The link just showed its capacity: stay under it for a while
		// rather than try the same wall again at once.
		e.estimate = max(e.estimate, min(e.estimate+additiveUp*dt.Seconds(), 0.95*e.congestedAt))
	case near:
		e.estimate += max(additiveUp, additiveShare*e.estimate) * dt.Seconds()
	default:
		e.estimate *= 1 + multiplicativeUp*dt.Seconds()
	}
	e.estimate = max(min(e.estimate, bweMax), bweMin)
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
