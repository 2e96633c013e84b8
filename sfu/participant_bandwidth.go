package sfu

// Bandwidth control of a participant's subscriber connection, run on its
// event loop: the allocator's layer choices, probing with padding to
// climb, and dynacast of its own published layers.

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// allocate chooses the layer of each video subscription: the Allocator
// splits the subscriber's bandwidth estimate, less its audio, over the
// video tracks, within the caps the subscriber set. It runs on the event
// loop.
func (p *Participant) allocate() {
	now := p.sfu.now()
	estimate, known := p.bwe.Estimate(now)
	budget := estimate
	var speaker string
	if len(p.downs) > 0 {
		// Subscriptions are posted by the room after Join set p.room, so
		// having one means p.room is safe to read here.
		speaker = p.room.activeSpeaker()
	}
	demands := p.demands[:0]
	downs := p.allocDowns[:0]
	for _, s := range p.downs {
		up := s.down.up
		if up.kind != webrtc.RTPCodecTypeVideo {
			if l := up.layer(0); l != nil {
				budget -= l.bitrate.Load()
			}
			continue
		}
		d := VideoDemand{TrackID: up.id, MaxLayer: int(s.down.maxLayer.Load())}
		_, d.Current = s.down.Layers()
		// The active speaker first, then what is shown larger.
		d.Priority = d.MaxLayer
		if up.publisherID == speaker {
			d.Priority += MaxLayers
		}
		for i := range d.Bitrates {
			l := up.layer(i)
			switch {
			case l == nil:
			case l.active(now):
				d.Bitrates[i] = max(l.bitrate.Load(), 1)
			case l.paused.Load(), l.resuming(now):
				// Not sent because nobody wanted it, or asked for again
				// and not here yet: it can be had (again), and dropping
				// it now would count as a failed climb.
				d.Bitrates[i] = l.bitrate.Load()
			}
		}
		demands = append(demands, d)
		downs = append(downs, s.down)
	}
	p.demands, p.allocDowns = demands, downs
	layers := p.alloc.Allocate(now, budget, known, demands)
	paused := 0
	audio := estimate - budget
	// What is being sent no longer fits the estimate: the link is
	// congested, and a step down should not wait behind the old layer.
	sending := audio
	for i := range demands {
		sending += cost(demands[i], demands[i].Current)
	}
	congested := known && sending > estimate
	p.probeWant, p.probeSending, p.padDown = audio, audio, nil
	for i, d := range downs {
		if layers[i] < 0 {
			paused++
		}
		best := highest(demands[i])
		p.probeWant += int64(float64(cost(demands[i], best)) * allocHeadroom)
		p.probeSending += cost(demands[i], layers[i])
		if layers[i] < best && p.padDown == nil && d.canPad() {
			p.padDown = d
		}
		switch to := layers[i]; {
		case to == demands[i].Current:
		case congested && to >= 0 && to < demands[i].Current && d.up.flowing(to, now):
			d.dropTo(to)
		default:
			d.SetTarget(to)
		}
	}
	p.sfu.metrics.EstimateBits.Add(float64(estimate - p.lastEstimate))
	p.sfu.metrics.PausedTracks.Add(float64(paused - p.lastPaused))
	p.lastEstimate, p.lastPaused = estimate, paused
}

// probeEvery is the pace of probe padding; padBacklog is the most padding
// held back while waiting for the end of a frame.
const (
	probeEvery = 20 * time.Millisecond
	padBacklog = 3 * probeEvery
)

// probe starts a padding probe when the subscriber's estimate holds a
// track below the layer it wants, and acts on a finished probe's outcome.
// It runs on the event loop after allocate.
func (p *Participant) probe() {
	now := p.sfu.now()
	if p.prober.Probing() {
		stats := p.bwe.Probe()
		switch verdict, rate := p.prober.Judge(now, stats); verdict {
		case ProbeSucceeded:
			p.bwe.ProbeSucceeded(rate, now)
			p.sfu.metrics.ProbesSucceeded.Inc()
			p.log.Debug("probe succeeded", "rate", int64(rate), "acked", stats.Total-stats.Lost, "padding", p.padSent, "queue", stats.MaxQueue)
		case ProbeFailed:
			p.bwe.EndProbe()
			p.sfu.metrics.ProbesFailed.Inc()
			p.log.Debug("probe failed", "delivered", int64(rate), "acked", stats.Total-stats.Lost, "padding", p.padSent, "lost", stats.Lost,
				"queue", stats.MaxQueue, "estimate_dropped", stats.Decreased)
		}
		return
	}
	estimate, known := p.bwe.Estimate(now)
	if !known || p.padDown == nil {
		return
	}
	goal, ok := p.prober.Begin(now, estimate, p.probeWant)
	if !ok {
		return
	}
	p.log.Debug("probe", "estimate", estimate, "goal", goal, "sending", p.probeSending)
	p.bwe.StartProbe(now, probeLength)
	p.padTicker = time.NewTicker(probeEvery)
	p.padLast, p.padCarry, p.padSent = now, 0, 0
	p.pad(now)
}

// pad sends the padding a probe owes since the last call.
func (p *Participant) pad(now time.Time) {
	rate := p.prober.PadRate(now, p.probeSending, p.bwe.Probe())
	if rate <= 0 || p.padDown == nil {
		p.stopPadding()
		p.bwe.StopProbe(now)
		return
	}
	p.padCarry += float64(rate) * now.Sub(p.padLast).Seconds() / 8
	p.padLast = now
	// The RTP size of one padding packet: header, transport-wide sequence
	// number extension and the padding.
	const packet = 12 + 8 + paddingSize
	if n := int(p.padCarry / packet); n > 0 {
		// Padding waits for the end of a frame: what it could not send
		// now goes out at the next tick, but no more than a few ticks'
		// worth in one burst.
		sent, written := p.padDown.writePadding(n)
		p.padSent += sent
		p.padCarry -= float64(sent * packet)
		p.padCarry = min(p.padCarry, float64(rate)*padBacklog.Seconds()/8)
		p.sfu.metrics.PaddingBytes.Add(float64(written))
	}
}

func (p *Participant) stopPadding() {
	if p.padTicker != nil {
		p.padTicker.Stop()
		p.padTicker = nil
	}
}

// dynacast tells the client which simulcast layers of its tracks anybody
// receives, so that it encodes only those. It runs on the event loop.
func (p *Participant) dynacast() {
	now := p.sfu.now()
	p.upMu.Lock()
	ups := make([]*UpTrack, 0, len(p.upTracks))
	for _, up := range p.upTracks {
		ups = append(ups, up)
	}
	p.upMu.Unlock()
	for _, up := range ups {
		if up.kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		st, ok := p.dynacasts[up]
		if !ok {
			st = &dynacastState{}
			p.dynacasts[up] = st
		}
		if ev, changed := st.update(up, now); changed {
			p.sink.Send(ev)
		}
	}
	for up := range p.dynacasts {
		if up.Closed() {
			delete(p.dynacasts, up)
		}
	}
}
