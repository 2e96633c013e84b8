package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RunConfig describes a load run.
type RunConfig struct {
	// URLs are the servers' WebSocket endpoints; rooms are spread over
	// them in turn, every participant of a room on its room's node.
	URLs []string
	// Rooms, Publishers and Subscribers: publishers and subscribers are
	// spread over the rooms in turn. Each publisher publishes one video
	// (unless AudioOnly) and one audio track and receives nothing it does
	// not need; each subscriber receives everything in its room.
	Rooms, Publishers, Subscribers int
	// Duration bounds the run: it stops by itself, closing every
	// connection, when it is over.
	Duration time.Duration
	// AudioOnly publishes audio only; Simulcast publishes three video
	// layers (otherwise the top one only).
	AudioOnly, Simulcast bool
	// MaxLayer, if set, is what subscribers ask for (set_layer).
	MaxLayer *int
	// RampStep subscribers join every RampEvery, from none, until
	// Subscribers or until a step fails Thresholds (ramp mode), which
	// ends the run; 0 joins them all at once.
	RampStep  int
	RampEvery time.Duration
	// Token returns an access token for a participant of room.
	Token func(ctx context.Context, url, room, identity string) (string, error)
	// MetricsToken, if set, is sent as a bearer token to the servers'
	// /metrics endpoints (a node with keys serves them to an admin token or
	// its metrics_token only).
	MetricsToken string
	// Thresholds decide whether the run passed.
	Thresholds Thresholds
	// LoopbackOnly restricts ICE to 127.0.0.1.
	LoopbackOnly bool
	// Progress, if set, is called with a line every second.
	Progress func(line string)
	// RoomPrefix names the rooms: PREFIX-0, PREFIX-1...
	RoomPrefix string
	// SpreadParticipants spreads participants, not rooms, over URLs: in
	// a cluster, where any node is a front door, a room's participants
	// then come in through different nodes, and the report gives the join
	// time through each (RunReport.JoinMSByURL).
	SpreadParticipants bool
	// NoReconnect leaves a participant whose connection ends out of the
	// rest of the run. Otherwise it rejoins, as the web client does,
	// unless the run is over, the session was replaced (4409) or the
	// server refused its token or room (4401, 4400): a new WebSocket and
	// new connections, the same identity, publishing again if it
	// published, after a wait from Backoff, on the next of URLs in turn.
	// A failed first attempt is retried the same way.
	NoReconnect bool
	// Backoff paces the attempts; zero is DefaultBackoff.
	Backoff Backoff
	// IdleTimeout is Options.IdleTimeout for every participant: how long
	// one waits for anything from its node, pings included, before it
	// gives the connection up as that of a node that vanished. Zero is
	// DefaultIdleTimeout; negative, never.
	IdleTimeout time.Duration
	// P2P makes every room a two-party call: two callers, each publishing
	// (as a publisher does) and receiving the other, that take part in
	// peer to peer (Options.P2P), so that a server with sfu.p2p.enabled
	// connects them directly. Publishers, Subscribers and the ramp do not
	// apply; the report has a P2P section (P2PSummary). The continuity
	// and media gap figures cover publishers and subscribers only.
	P2P bool
	// ContinuityFrom, if set, is how far into the run the continuity
	// figures (RunReport.Continuity) start: a pause that ended before it,
	// while the room was forming say, is not counted.
	ContinuityFrom time.Duration
	// ChatEvery, if set, has every participant send a chat message to
	// its room this often, and the report a Chat section; DataEvery the
	// same with application data (Client.OpenData, on the lossy channel
	// if DataLossy), and a Data section (MessageSummary).
	ChatEvery, DataEvery time.Duration
	DataLossy            bool

	// sampled, if set, is told after every second's sample how many
	// participants are in the room with media flowing (tests).
	sampled func(joined int)
}

// rampThresholds are the defaults for judging ramp steps: the capacity is
// the last step with at most 1% loss and a p99 latency under 200 ms.
var rampThresholds = Thresholds{MaxLossPct: 1, MaxLatencyMS: 200}

// keepMessages is how many signaling messages each client of a run keeps
// (Options.KeepMessages): a client waits only for the replies to what it
// has just sent, such as the answer to its offer.
const keepMessages = 16

// Run performs a load run and reports what the participants experienced.
func Run(ctx context.Context, cfg RunConfig) (*RunReport, error) {
	if len(cfg.URLs) == 0 || cfg.Rooms <= 0 || cfg.Duration <= 0 || cfg.Token == nil {
		return nil, errors.New("loadtest: a run needs URLs, rooms, a duration and tokens")
	}
	if cfg.P2P {
		if cfg.RampStep > 0 {
			return nil, errors.New("loadtest: a run of two-party calls has no ramp")
		}
		cfg.Publishers, cfg.Subscribers = 2*cfg.Rooms, 0
	}
	if cfg.RoomPrefix == "" {
		cfg.RoomPrefix = fmt.Sprintf("load-%d", time.Now().Unix())
	}
	samples, err := LoadSamples()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	started := time.Now()

	// A server that cannot be measured (no /metrics reachable, not on
	// this machine) does not stop the run: the report says so.
	watcher, watchErr := startWatcher(ctx, cfg.URLs, cfg.MetricsToken)
	if watchErr != nil && cfg.Progress != nil {
		cfg.Progress("server cost not measured: " + watchErr.Error())
	}

	r := &loadRun{cfg: cfg, samples: samples, clock: newSendClock(samples), started: started, cancel: cancel,
		pubIDs: map[string]*participant{}, reasons: map[string]bool{}}
	defer r.closeAll()

	// Publishers first, all at once.
	for i := range cfg.Publishers {
		r.start(ctx, true, i)
	}
	r.wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("loadtest: publishers did not join within the run: %w", ctx.Err())
	}

	stopChat := r.startMessages(ctx, started.Add(cfg.Duration), cfg.ChatEvery, chatMessenger)
	stopData := r.startMessages(ctx, started.Add(cfg.Duration), cfg.DataEvery, dataMessenger(cfg.DataLossy))
	var ramp []RampStep
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	nextStep := time.Now()
	joinedSubs := 0
	stepStart := 0 // index into r.series where the current ramp step began
	stepSent, stepSkipped := r.published()
	rampDone := cfg.RampStep <= 0
	if rampDone {
		for i := range cfg.Subscribers {
			r.start(ctx, false, i)
		}
		joinedSubs = cfg.Subscribers
	}
	th := cfg.Thresholds
	if th.MaxLossPct == 0 && th.MaxLatencyMS == 0 {
		th = rampThresholds
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			r.sample(now, watcher)
			if cfg.Progress != nil {
				cfg.Progress(ProgressLine(r.series[len(r.series)-1], r.joined(), cfg.Publishers+joinedSubs))
			}
			if cfg.sampled != nil {
				cfg.sampled(r.joined())
			}
			if rampDone || now.Before(nextStep) {
				continue
			}
			if joinedSubs > 0 {
				step := RampStepOf(joinedSubs, r.series[stepStart:], r.takeStepLatencies(), th)
				sent, skipped := r.published()
				step.PublisherSkippedPct = skippedPct(sent-stepSent, skipped-stepSkipped)
				// A step the harness could not drive says nothing of the server.
				step.OK = step.OK && step.PublisherSkippedPct <= maxPublisherSkippedPct
				ramp = append(ramp, step)
				if !step.OK || joinedSubs >= cfg.Subscribers {
					// Capacity found (or the last step held): the run
					// ends here, before a system past its capacity
					// muddles the figures.
					break loop
				}
			}
			for range min(cfg.RampStep, cfg.Subscribers-joinedSubs) {
				r.start(ctx, false, joinedSubs)
				joinedSubs++
			}
			stepStart = len(r.series)
			stepSent, stepSkipped = r.published()
			r.takeStepLatencies()
			nextStep = now.Add(cfg.RampEvery)
		}
	}
	chat, data := stopChat(), stopData()
	var cost WatchSummary
	if watcher != nil {
		cost = watcher.Stop(context.Background())
	} else {
		cost.Server.Source = "not measured: " + watchErr.Error()
	}
	info := RunInfo{
		Started: started, Duration: time.Since(started), URLs: cfg.URLs, Rooms: cfg.Rooms,
		Publishers: cfg.Publishers, Subscribers: joinedSubs, Thresholds: cfg.Thresholds, Ramp: ramp, P2P: cfg.P2P, Chat: chat, Data: data,
	}
	return BuildReport(info, r.results(), r.series, cost), nil
}

func startWatcher(ctx context.Context, urls []string, metricsToken string) (*ServerWatcher, error) {
	cfg, err := WatcherConfigFor(urls)
	if err != nil {
		return nil, err
	}
	cfg.MetricsToken = metricsToken
	w, err := NewServerWatcher(cfg)
	if err != nil {
		return nil, err
	}
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

type loadRun struct {
	cfg     RunConfig
	samples *Samples
	clock   *sendClock
	started time.Time
	cancel  context.CancelFunc // ends the run's context: attempts stop

	wg sync.WaitGroup // first joins in progress
	// bg counts the goroutines that close a lost connection and rejoin;
	// its Add is under mu, while not closing.
	bg      sync.WaitGroup
	mu      sync.Mutex // guards the fields below, and the participants' own
	closing bool       // closeAll has begun: no new connection is kept
	parts   []*participant
	// pubIDs maps the participant IDs the publishers' sessions had to
	// the publishers, so that subscribers' tracks can be told apart by
	// publisher across rejoins.
	pubIDs map[string]*participant
	// reasons are the disconnect and failure reasons seen so far: the
	// first of each goes to Progress.
	reasons map[string]bool
	// series is one sample per second.
	series []Second
	prev   map[*participant]TrackTotals
	// stepLat holds the latency samples (ms) since the current ramp step
	// began; empty without a ramp.
	stepLat []float64
}

// takeStepLatencies returns the latency samples since the last call.
func (r *loadRun) takeStepLatencies() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := r.stepLat
	r.stepLat = nil
	return lat
}

// start connects participant i of its kind in the background.
func (r *loadRun) start(ctx context.Context, publisher bool, i int) {
	p := &participant{publisher: publisher, caller: r.cfg.P2P, index: i, room: i % r.cfg.Rooms, started: time.Now(), lat: &latencies{}}
	// Rooms, not participants, are spread over the nodes, each room on
	// one node, unless participants are to come in through every node.
	p.url = p.room % len(r.cfg.URLs)
	r.mu.Lock()
	if r.cfg.SpreadParticipants {
		p.url = len(r.parts) % len(r.cfg.URLs)
	}
	p.firstURL = p.url
	r.parts = append(r.parts, p)
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.connect(ctx, p, nil)
	}()
}

// expected is how many tracks a participant of room should receive.
func (r *loadRun) expected(p *participant) int {
	pubs := 0
	switch {
	case p.caller:
		pubs = 1 // the other caller
	case p.publisher:
		return 0
	default:
		for i := range r.cfg.Publishers {
			if i%r.cfg.Rooms == p.room {
				pubs++
			}
		}
	}
	if r.cfg.AudioOnly {
		return pubs
	}
	return 2 * pubs
}

// sample records one second of the run.
func (r *loadRun) sample(now time.Time, w *ServerWatcher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prev == nil {
		r.prev = map[*participant]TrackTotals{}
	}
	s := Second{T: now.Sub(r.started).Seconds()}
	var bits, lost, expected float64
	var lat []float64
	for _, p := range r.parts {
		if !p.receives() || p.joins == 0 {
			continue
		}
		s.Subscribers++
		t := r.receivedLocked(p, now)
		r.noteCallLocked(p)
		r.checkMoveGapsLocked(p)
		if p.joinedAt.IsZero() && t.Flowing >= r.expected(p) && t.Tracks >= r.expected(p) {
			p.joinedAt = t.LastFirst
		}
		prev := r.prev[p]
		bits += float64(t.Bytes-prev.Bytes) * 8
		lost += float64(t.Unrepaired - prev.Unrepaired)
		expected += float64(t.Expected - prev.Expected)
		r.prev[p] = t
		lat = p.lat.since(lat)
	}
	if s.Subscribers > 0 {
		s.BitrateKbps = bits / 1000 / float64(s.Subscribers)
	}
	if expected > 0 {
		s.LossPct = 100 * max(lost, 0) / expected
	}
	s.LatencyP99MS = PercentilesOf(lat).P99
	if r.cfg.RampStep > 0 {
		r.stepLat = append(r.stepLat, lat...)
	}
	if r.cfg.P2P {
		s.DirectCalls = r.directCallsLocked()
	}
	if w == nil {
		// not measured
	} else if d, ok := w.Latest(); ok {
		s.ServerCPU, s.HarnessCPU, s.ForwardedPPS = d.CPUCores, d.HarnessCPU, d.ForwardedPPS
	}
	r.series = append(r.series, s)
}

func (r *loadRun) joined() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.parts {
		if p.client != nil && (!p.receives() || !p.joinedAt.IsZero()) {
			n++
		}
	}
	return n
}

// published sums the publishers' frames sent and skipped so far.
func (r *loadRun) published() (sent, skipped int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.parts {
		if p.publisher {
			a, b := publishedLocked(p)
			sent, skipped = sent+a, skipped+b
		}
	}
	return sent, skipped
}

// results are the per-participant figures at the end of the run.
func (r *loadRun) results() []ParticipantResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	continuity := r.continuityLocked()
	out := make([]ParticipantResult, 0, len(r.parts))
	for _, p := range r.parts {
		res := ParticipantResult{Publisher: p.publisher, Caller: p.caller, Room: p.room, TracksExpected: r.expected(p), URL: r.cfg.URLs[p.firstURL], Continuity: continuity[p]}
		var t TrackTotals
		if p.caller {
			var sfu, peer TrackTotals
			t, sfu, peer = r.callerTotalsLocked(p, now)
			res.Peer = r.peerResultLocked(p, sfu, peer)
		} else {
			t = r.totalsLocked(p, now)
		}
		res.Reconnect = p.rc.clone()
		res.Reconnect.Unresumed = unresumedLocked(p)
		res.Reconnect.NotBack = len(p.rc.Disconnects) > 0 && p.client == nil
		r.checkMoveGapsLocked(p)
		res.Move = p.mv.clone()
		res.Move.UnresumedWhat = unresumedMovesLocked(p)
		res.Move.Unresumed = len(res.Move.UnresumedWhat)
		if p.joins == 0 {
			out = append(out, res)
			continue
		}
		res.FramesSent, res.FramesSkipped = publishedLocked(p)
		res.TracksReceived = min(t.Tracks, res.TracksExpected)
		if !p.joinedAt.IsZero() {
			res.JoinMS = ms(p.joinedAt.Sub(p.started))
		}
		if !t.First.IsZero() {
			res.FirstMediaMS = ms(t.First.Sub(p.started))
			if span := now.Sub(t.First).Seconds(); span > 0 {
				res.BitrateKbps = float64(t.Bytes) * 8 / 1000 / span
			}
		}
		res.PacketsReceived, res.PacketsLost = t.Packets, t.Unrepaired
		res.Freezes = t.Freezes
		res.JitterMS = ms(t.Jitter)
		res.LatencyMS = p.lat.all()
		out = append(out, res)
	}
	return out
}

// closeAll stops every attempt in progress and leaves with every
// participant.
func (r *loadRun) closeAll() {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.bg.Wait()
	r.mu.Lock()
	parts := r.parts
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range parts {
		if p.client == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.client.Leave()
		}()
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
