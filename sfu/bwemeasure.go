package sfu

import "time"

// What the estimator measures from feedback: the loss ratio, the base
// one-way delay, and the rate at which packets got through.

type lossSample struct {
	at          time.Time
	lost, total int
}

// lossWindow is how much feedback the loss ratio is judged over: one
// feedback carries too few packets to tell 5% from 20%.
const lossWindow = time.Second

// deliverySample is a packet that arrived.
type deliverySample struct {
	arrival time.Time // the receiver's clock
	sent    time.Time // ours
	bits    int
}

// lostSample is a packet that did not arrive, kept for lostMemory so that
// a measure of the rate that got through can count what was sent in the
// same span.
type lostSample struct {
	sent time.Time
	bits int
}

// lostMemory is how long lost packets are remembered: longer than the
// deliveredWindow of arrivals plus the queue before them.
const lostMemory = 2 * time.Second

// linkMeasure is what the packets that arrived over a span say of the
// link.
type linkMeasure struct {
	rate float64 // bits/s that got through; 0: too short a span to tell
	// full: the link fell behind what it was sent. The packets of the
	// span arrived at under saturatedShare of the rate they were sent at,
	// counting those lost, so their arrival rate is the link's capacity
	// and not merely the rate it was offered.
	full bool
}

// saturatedShare is the share of the rate sent under which a link that
// delivered less is full: 15% of what was sent lost, or queued ever
// longer, is more than the unevenness of a few frames' sending explains.
const saturatedShare = 0.85

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

// addLost remembers a lost packet, and forgets those sent over lostMemory
// before now.
func (e *BandwidthEstimator) addLost(sent time.Time, bits int, now time.Time) {
	e.lost = append(e.lost, lostSample{sent: sent, bits: bits})
	i := 0
	for i < len(e.lost) && now.Sub(e.lost[i].sent) > lostMemory {
		i++
	}
	e.lost = e.lost[i:]
}

// deliveredSince measures the packets that arrived from from on (the
// receiver's clock); its rate is 0 if they span too short a time to tell.
func (e *BandwidthEstimator) deliveredSince(from time.Time) linkMeasure {
	if from.IsZero() || len(e.delivered) == 0 {
		return linkMeasure{}
	}
	newest := e.delivered[len(e.delivered)-1].arrival
	bits := 0
	var first, firstSent, lastSent time.Time
	for _, d := range e.delivered {
		if d.arrival.Before(from) {
			continue
		}
		if first.IsZero() {
			// The first packet's bits arrived before the span begins.
			first, firstSent, lastSent = d.arrival, d.sent, d.sent
			continue
		}
		bits += d.bits
		if d.sent.After(lastSent) {
			lastSent = d.sent
		}
	}
	span := newest.Sub(first)
	if first.IsZero() || span < deliveredMinSpan {
		return linkMeasure{}
	}
	// What was sent meanwhile: the packets that arrived, and those lost
	// between them.
	sentBits := bits
	for _, l := range e.lost {
		if l.sent.After(firstSent) && !l.sent.After(lastSent) {
			sentBits += l.bits
		}
	}
	// bits/span < share * sentBits/sentSpan, without dividing by a span
	// of sending that may be 0 (packets sent in one batch).
	sentSpan := lastSent.Sub(firstSent)
	full := float64(bits)*sentSpan.Seconds() < saturatedShare*float64(sentBits)*span.Seconds()
	return linkMeasure{rate: float64(bits) / span.Seconds(), full: full}
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
