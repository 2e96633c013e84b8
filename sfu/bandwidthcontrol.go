package sfu

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/pion/webrtc/v4"
)

// allocateEvery is how often each subscriber's layers are chosen again.
const allocateEvery = 500 * time.Millisecond

// probeEvery is the pace of probe padding; padBacklog is the most padding
// held back while waiting for the end of a frame.
const (
	probeEvery = 20 * time.Millisecond
	padBacklog = 3 * probeEvery
)

// bandwidthControl fits what one subscriber connection is sent to its
// bandwidth estimate: the Allocator splits the estimate over the video
// subscriptions, choosing a simulcast layer for each, and the Prober
// probes the link with padding when the estimate holds a track below the
// layer it wants, so that it can climb.
//
// It is owned by one goroutine, its owner's event loop, which forwards to
// it the ticks of its two tickers (allocateTicks, padTicks) and the
// estimator's decreases. Time is passed in and the tickers come from an
// injected factory, so a test drives it step by step without a network or
// real time.
type bandwidthControl struct {
	bwe       *BandwidthEstimator // of the subscriber connection; set once, so read by any goroutine (debugState)
	metrics   *Metrics
	log       *slog.Logger
	speaker   func() string // the participant ID of the room's active speaker
	newTicker newTickerFunc

	downs []*DownTrack // the subscriptions, audio and video, in the order added

	allocTicker  ticker
	alloc        *Allocator
	demands      []VideoDemand   // reused by allocate
	allocDowns   []*DownTrack    // reused by allocate
	kept         map[twinKey]int // reused by rankTwins
	lastEstimate int64           // what this connection added to the node's metrics
	lastPaused   int
	lastShort    int // video tracks given a layer below the best they want, at the last allocation

	prober       Prober
	probeWant    int64      // bits/s the subscriber's wanted layers take, with headroom (allocate)
	probeSending int64      // bits/s of the layers it gets (allocate)
	padDown      *DownTrack // a video track that can carry probe padding (allocate)
	padTicker    ticker     // nil while not padding
	padLast      time.Time
	padCarry     float64 // bytes of padding owed
	padSent      int     // padding packets the current probe sent

	data     *dataPeer // the subscriber's application data (datacharge.go); nil in tests
	dataSent int64     // data.sent at the last allocation
	dataAt   time.Time // when that was
}

// newBandwidthControl returns the bandwidth control of the subscriber
// connection that bwe estimates, with its allocation ticker started.
// speaker is called on the owner's goroutine, only once a subscription
// was added.
func newBandwidthControl(bwe *BandwidthEstimator, metrics *Metrics, log *slog.Logger, speaker func() string, newTicker newTickerFunc) *bandwidthControl {
	return &bandwidthControl{
		bwe: bwe, metrics: metrics, log: log, speaker: speaker, newTicker: newTicker,
		allocTicker: newTicker(allocateEvery),
		alloc:       NewAllocator(),
	}
}

// add makes d one of the subscriptions allocated to.
func (b *bandwidthControl) add(d *DownTrack) { b.downs = append(b.downs, d) }

// remove takes d out of the subscriptions, from the next allocation on.
func (b *bandwidthControl) remove(d *DownTrack) {
	if i := slices.Index(b.downs, d); i >= 0 {
		b.downs = slices.Delete(b.downs, i, i+1)
	}
}

// allocateTicks ticks every allocateEvery: the owner calls tick.
func (b *bandwidthControl) allocateTicks() <-chan time.Time { return b.allocTicker.Chan() }

// padTicks ticks every probeEvery while a probe pads, when the owner calls
// pad with the tick's time; it is nil otherwise.
func (b *bandwidthControl) padTicks() <-chan time.Time {
	if b.padTicker == nil {
		return nil
	}
	return b.padTicker.Chan()
}

// decreases is signalled when the estimate drops: the owner calls
// decreased.
func (b *bandwidthControl) decreases() <-chan struct{} { return b.bwe.Decreased() }

// tick chooses the layers again and starts or judges a probe.
func (b *bandwidthControl) tick(now time.Time) {
	b.allocate(now)
	b.probe(now)
}

// decreased steps down at once after the estimate dropped: every 500 ms of
// waiting for the next tick is 500 ms more of a queue building at the
// subscriber's bottleneck.
func (b *bandwidthControl) decreased(now time.Time) {
	b.prober.Dropped(now)
	b.allocate(now)
	if b.log.Enabled(context.Background(), slog.LevelDebug) {
		est, _ := b.bwe.Estimate(now)
		delay, loss := b.bwe.Stats()
		b.log.Debug("estimate dropped", "estimate", est, "queue", delay, "loss", loss)
	}
}

// close stops the tickers and takes the connection's figures out of the
// node's metrics.
func (b *bandwidthControl) close() {
	b.allocTicker.Stop()
	b.stopPadding()
	b.metrics.EstimateBits.Sub(float64(b.lastEstimate))
	b.metrics.PausedTracks.Sub(float64(b.lastPaused))
	b.lastEstimate, b.lastPaused = 0, 0
}

// allocate chooses the layer of each video subscription: the Allocator
// splits the subscriber's bandwidth estimate, less its audio, over the
// video tracks, within the caps the subscriber set.
func (b *bandwidthControl) allocate(now time.Time) {
	estimate, known := b.bwe.Estimate(now)
	budget := estimate
	var speaker string
	if len(b.downs) > 0 {
		speaker = b.speaker()
	}
	demands := b.demands[:0]
	downs := b.allocDowns[:0]
	for _, down := range b.downs {
		up := down.up
		if up.kind != webrtc.RTPCodecTypeVideo {
			if l := up.layer(0); l != nil {
				budget -= l.bitrate.Load()
			}
			continue
		}
		d := VideoDemand{TrackID: up.id, MaxLayer: int(down.maxLayer.Load()), Screen: up.source == SourceScreen}
		_, d.Current = down.Layers()
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
			case up.direct.Load():
				// Sent peer to peer: kept, so that the call comes back
				// to the SFU without waiting for an allocation and a
				// keyframe.
				d.Bitrates[i] = max(l.bitrate.Load(), 1)
			case l.paused.Load(), l.resuming(now):
				// Not sent because nobody wanted it, or asked for again
				// and not here yet: it can be had (again), and dropping
				// it now would count as a failed climb.
				d.Bitrates[i] = l.bitrate.Load()
			}
		}
		demands = append(demands, d)
		downs = append(downs, down)
	}
	b.demands, b.allocDowns = demands, downs
	b.rankTwins(demands, downs)
	layers := b.alloc.Allocate(now, budget-b.chargeData(now, budget), known, demands)
	paused, short := 0, 0
	audio := estimate - budget
	// What is being sent no longer fits the estimate: the link is
	// congested, and a step down should not wait behind the old layer.
	sending := audio
	for i := range demands {
		sending += cost(demands[i], demands[i].Current)
	}
	congested := known && sending > estimate
	b.probeWant, b.probeSending, b.padDown = audio, audio, nil
	for i, d := range downs {
		if layers[i] < 0 {
			paused++
		}
		best := highest(demands[i])
		b.probeWant += int64(float64(cost(demands[i], best)) * allocHeadroom)
		b.probeSending += cost(demands[i], layers[i])
		if layers[i] < best {
			short++
		}
		if layers[i] < best && b.padDown == nil && d.canPad() {
			b.padDown = d
		}
		switch to := layers[i]; {
		case to == demands[i].Current:
		case congested && to >= 0 && to < demands[i].Current && d.up.flowing(to, now):
			d.dropTo(to)
		default:
			d.SetTarget(to)
		}
	}
	b.markCongested(known, estimate, b.probeSending)
	b.metrics.EstimateBits.Add(float64(estimate - b.lastEstimate))
	b.metrics.PausedTracks.Add(float64(paused - b.lastPaused))
	b.lastEstimate, b.lastPaused, b.lastShort = estimate, paused, short
}

// twinKey is one picture of a person: its identity and the source.
type twinKey struct {
	identity string
	source   TrackSource
}

// rankTwins puts the video of a person's other sessions after every other
// track. Two sessions of one person, one moving to another node and its
// successor joined there, are one picture, which the subscriber shows
// from one of them: when the budget is short, the one flowing (else the
// one asked for larger, else the first subscribed) keeps its place and
// the other comes last, so that the successor's video arriving never
// pauses the picture the subscriber is watching, nor the other way round.
func (b *bandwidthControl) rankTwins(demands []VideoDemand, downs []*DownTrack) {
	if b.kept == nil {
		b.kept = map[twinKey]int{}
	}
	clear(b.kept)
	for i, d := range downs {
		if d.up.identity == "" {
			continue
		}
		k := twinKey{d.up.identity, d.up.source}
		j, seen := b.kept[k]
		if !seen {
			b.kept[k] = i
			continue
		}
		if ahead(demands[i], demands[j]) {
			b.kept[k], i = i, j
		}
		demands[i].Screen, demands[i].Priority = false, -1
	}
}

// ahead reports whether x keeps its place before its twin y: it flows and
// y does not, or both do or both do not and x is asked for larger.
func ahead(x, y VideoDemand) bool {
	if (x.Current >= 0) != (y.Current >= 0) {
		return x.Current >= 0
	}
	return x.MaxLayer > y.MaxLayer
}

// probe starts a padding probe when the subscriber's estimate holds a
// track below the layer it wants, and acts on a finished probe's outcome.
// It runs after allocate.
func (b *bandwidthControl) probe(now time.Time) {
	if b.prober.Probing() {
		stats := b.bwe.Probe()
		switch verdict, rate := b.prober.Judge(now, stats); verdict {
		case ProbeSucceeded:
			b.bwe.ProbeSucceeded(rate, now)
			b.metrics.ProbesSucceeded.Inc()
			b.log.Debug("probe succeeded", "rate", int64(rate), "acked", stats.Total-stats.Lost, "padding", b.padSent, "queue", stats.MaxQueue)
		case ProbeFailed:
			b.bwe.EndProbe()
			b.metrics.ProbesFailed.Inc()
			b.log.Debug("probe failed", "delivered", int64(rate), "acked", stats.Total-stats.Lost, "padding", b.padSent, "lost", stats.Lost,
				"queue", stats.MaxQueue, "estimate_dropped", stats.Decreased)
		}
		return
	}
	estimate, known := b.bwe.Estimate(now)
	if !known || b.padDown == nil {
		return
	}
	goal, ok := b.prober.Begin(now, estimate, b.probeWant)
	if !ok {
		return
	}
	b.log.Debug("probe", "estimate", estimate, "goal", goal, "sending", b.probeSending)
	b.bwe.StartProbe(now, probeLength)
	b.padTicker = b.newTicker(probeEvery)
	b.padLast, b.padCarry, b.padSent = now, 0, 0
	b.pad(now)
}

// pad sends the padding a probe owes since the last call.
func (b *bandwidthControl) pad(now time.Time) {
	rate := b.prober.PadRate(now, b.probeSending, b.bwe.Probe())
	if rate <= 0 || b.padDown == nil {
		b.stopPadding()
		b.bwe.StopProbe(now)
		return
	}
	b.padCarry += float64(rate) * now.Sub(b.padLast).Seconds() / 8
	b.padLast = now
	// The RTP size of one padding packet: header, transport-wide sequence
	// number extension and the padding.
	const packet = 12 + 8 + paddingSize
	if n := int(b.padCarry / packet); n > 0 {
		// Padding waits for the end of a frame: what it could not send
		// now goes out at the next tick, but no more than a few ticks'
		// worth in one burst.
		sent, written := b.padDown.writePadding(n)
		b.padSent += sent
		b.padCarry -= float64(sent * packet)
		b.padCarry = min(b.padCarry, float64(rate)*padBacklog.Seconds()/8)
		b.metrics.PaddingBytes.Add(float64(written))
	}
}

func (b *bandwidthControl) stopPadding() {
	if b.padTicker != nil {
		b.padTicker.Stop()
		b.padTicker = nil
	}
}
