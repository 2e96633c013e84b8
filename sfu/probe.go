package sfu

import "time"

// Probing. When a subscriber's estimate is too low for the layers it
// wants, the SFU does not try the better layer on faith: it first sends
// padding beside the video so that the connection carries what the better
// layer would need, and climbs only if the transport-wide feedback shows
// that it got through without a queue. The padding ramps the connection
// from the estimate up to the rate tested, so that on a link still
// limited the queue grows slowly and the probe stops, on the first
// feedback that shows it, before the bottleneck's buffer overflows: a
// probe costs a few tens of milliseconds of queueing instead of a failed
// layer switch, and a link whose limit was lifted is found at the next
// probe.
const (
	probeLength     = 800 * time.Millisecond // of padding
	probeSettle     = 400 * time.Millisecond // feedback on the last padding arrives within this
	probeQuiet      = 2 * time.Second        // no probe this soon after the estimate dropped
	probeGap        = time.Second            // between probes that succeed
	probeBackoffMin = 2 * time.Second        // after a failed probe, doubling
	probeBackoffMax = 8 * time.Second
	probeGrowth     = 2.0 // a probe tests at most this times the estimate
	probeMargin     = 1.1 // and up to this much more than the layers wanted
	probeAbortQueue = 40 * time.Millisecond
	probeMaxLoss    = 0.03
	probeMinAcks    = 10  // packets the feedback must have acknowledged to judge by
	probeDelivered  = 0.8 // of what was sent must have arrived at that rate
)

// Prober decides when a subscriber connection is probed and judges the
// outcome. It is pure logic: time and the estimator's view are passed in.
type Prober struct {
	sending  bool      // padding goes out until end
	judging  bool      // padding stopped; waiting for its feedback
	start    time.Time // when the padding began
	end      time.Time // when the padding stops (or stopped)
	base     int64     // the rate the ramp starts from (the estimate), bits/s
	goal     int64     // the total rate the probe ramps up to, bits/s
	nextAt   time.Time // the earliest next probe
	backoff  time.Duration
	lastDrop time.Time // when the estimate last dropped
}

// ProbeVerdict is what Judge concluded.
type ProbeVerdict int

const (
	ProbePending ProbeVerdict = iota // not finished
	ProbeSucceeded
	ProbeFailed
)

// Begin starts a probe if one is due: the subscriber wants want bits/s
// (its wanted layers, with headroom), the estimate says less, and the link
// has been quiet. It returns the total rate to test.
func (p *Prober) Begin(now time.Time, estimate, want int64) (goal int64, ok bool) {
	if p.sending || p.judging || now.Before(p.nextAt) || now.Sub(p.lastDrop) < probeQuiet {
		return 0, false
	}
	if want <= estimate || estimate <= 0 {
		return 0, false
	}
	p.base = estimate
	p.goal = min(int64(float64(want)*probeMargin), int64(float64(estimate)*probeGrowth))
	p.sending, p.start, p.end = true, now, now.Add(probeLength)
	return p.goal, true
}

// Dropped records that the estimate went down.
func (p *Prober) Dropped(now time.Time) { p.lastDrop = now }

// PadRate is the padding to send now, bits/s, on top of sending (what the
// media takes): the ramp from the estimate to the goal less the media; 0
// when not probing. A probe whose feedback already shows
// a queue or loss stops early: the link said no.
func (p *Prober) PadRate(now time.Time, sending int64, s ProbeStats) int64 {
	if !p.sending {
		return 0
	}
	if !now.Before(p.end) || s.Decreased || s.MaxQueue > probeAbortQueue || lossOf(s) > probeMaxLoss {
		p.sending, p.judging = false, true
		if now.Before(p.end) {
			p.end = now
		}
		return 0
	}
	ramp := float64(now.Sub(p.start)) / float64(probeLength)
	return max(p.base+int64(ramp*float64(p.goal-p.base))-sending, 0)
}

// Judge returns the outcome of the probe once its feedback is in, and the
// rate the link showed it carries. A success makes the next probe come
// soon; a failure backs off exponentially.
func (p *Prober) Judge(now time.Time, s ProbeStats) (ProbeVerdict, float64) {
	if p.sending || !p.judging {
		return ProbePending, 0
	}
	failed := s.Decreased || s.MaxQueue > probeAbortQueue || lossOf(s) > probeMaxLoss
	if !failed && now.Before(p.end.Add(probeSettle)) {
		return ProbePending, 0
	}
	p.judging = false
	rate := s.LateRate()
	// Media and padding together ramped from base to goal: on a link
	// that carried them, the second half arrived at about its average
	// send rate, three quarters of the way up the ramp.
	carried := rate >= probeDelivered*(float64(p.base)+0.75*float64(p.goal-p.base))
	if failed || p.end.Sub(p.start) < probeLength || s.Total-s.Lost < probeMinAcks || !carried {
		p.backoff = min(max(2*p.backoff, probeBackoffMin), probeBackoffMax)
		p.nextAt = now.Add(p.backoff)
		return ProbeFailed, rate
	}
	p.backoff = 0
	p.nextAt = now.Add(probeGap)
	return ProbeSucceeded, float64(p.goal)
}

// Probing reports whether a probe is under way (sending or being judged).
func (p *Prober) Probing() bool { return p.sending || p.judging }

func lossOf(s ProbeStats) float64 {
	if s.Total < 20 {
		return 0 // too few packets to tell
	}
	return float64(s.Lost) / float64(s.Total)
}
