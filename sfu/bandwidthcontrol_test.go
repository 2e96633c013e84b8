package sfu

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// simBitrates are what the three simulcast layers of a simulated track
// cost, bits/s.
var simBitrates = [MaxLayers]int64{150_000, 300_000, 600_000}

// bwSim is one subscriber's bandwidth control driven step by step on a
// fake clock, with no network: two publishers send a simulcast video
// track each (simBitrates, a frame every simFrameEvery), through the real
// UpTracks and DownTracks, and what the DownTracks write, media and probe
// padding, crosses a simulated link (simLink) whose feedback feeds the
// real estimator. Its loop forwards ticks and decreases to bandwidth
// control as Participant.run does.
type bwSim struct {
	t       *testing.T
	clock   fakeClock
	link    *simLink
	bw      *bandwidthControl
	metrics *Metrics
	tracks  []*simTrack
	padding int // padding packets written
	// paddingAtTop counts padding packets written while every track was
	// at, and switching to, its top layer: nothing more was wanted.
	paddingAtTop int
	// decreases are the estimator's decreases handled, with the targets
	// just before and just after.
	decreases []simDecrease
}

type simDecrease struct {
	at            time.Duration
	estimate      int64
	before, after []int
}

// simTrack is one publisher's track and the subscriber's DownTrack of it.
type simTrack struct {
	up        *UpTrack
	layers    [MaxLayers]*layer
	seq       [MaxLayers]uint16
	keyDue    [MaxLayers]bool // a keyframe was asked for
	ts        uint32
	nextFrame time.Time
	down      *DownTrack
}

// linkWriter writes a DownTrack's packets onto the simulated link.
type linkWriter struct{ s *bwSim }

func (w linkWriter) WriteRTP(h *pionrtp.Header, payload []byte) (int, error) {
	n := h.MarshalSize() + len(payload)
	if h.Padding {
		n += int(h.PaddingSize)
		w.s.padding++
		if allAt(w.s.current(), 2) && allAt(w.s.targets(), 2) {
			w.s.paddingAtTop++
		}
	}
	w.s.link.transmit(w.s.clock.now, n)
	return n, nil
}

func (w linkWriter) Write(b []byte) (int, error) { return len(b), nil }

func newBWSim(t *testing.T, capacity func(at time.Duration) int64) *bwSim {
	s := &bwSim{t: t, link: newSimLink(capacity, nil), metrics: NewMetrics(nil)}
	s.clock.now = s.link.start
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.bw = newBandwidthControl(s.link.e, s.metrics, log, func() string { return "" }, s.clock.newTicker)
	for k, id := range []string{"TR_a", "TR_b"} {
		tr := &simTrack{nextFrame: s.clock.now}
		tr.up = newUpTrack(upTrackParams{
			id: id, publisherID: "PA_" + id, kind: webrtc.RTPCodecTypeVideo, codec: vp8,
			cacheSize: 1024, keyframeEvery: 500 * time.Millisecond,
			sendPLI: func(ssrc uint32) {
				for i, l := range tr.layers {
					if l.ssrc == ssrc {
						tr.keyDue[i] = true
					}
				}
			},
			now:     func() time.Time { return s.clock.now },
			metrics: s.metrics,
		})
		for i, rid := range []string{"q", "h", "f"} {
			tr.layers[i], _ = tr.up.addLayer(i, rid, uint32(10*k+i+1))
			tr.keyDue[i] = true // every layer starts with a keyframe
		}
		tr.down = bindDownTrack(t, tr.up, uint32(100+k), 96, linkWriter{s})
		s.bw.add(tr.down)
		s.tracks = append(s.tracks, tr)
	}
	return s
}

// at is the time since the simulation began.
func (s *bwSim) at() time.Duration { return s.clock.now.Sub(s.link.start) }

// step moves the simulation on by a millisecond: the publishers' frames
// due, the link's feedback, then the event loop.
func (s *bwSim) step() {
	s.clock.advance(time.Millisecond)
	for _, tr := range s.tracks {
		if s.clock.now.Before(tr.nextFrame) {
			continue
		}
		tr.nextFrame = tr.nextFrame.Add(simFrameEvery)
		tr.ts += uint32(90_000 * simFrameEvery / time.Second)
		for i, l := range tr.layers {
			s.sendFrame(tr, i, l)
		}
	}
	if s.clock.now.UnixMilli()%50 == 0 {
		s.link.feedback(s.clock.now)
	}
	s.loop()
}

// sendFrame has layer i of tr send a frame, a keyframe if one was asked
// for, in packets of at most 1,200 bytes.
func (s *bwSim) sendFrame(tr *simTrack, i int, l *layer) {
	key := tr.keyDue[i]
	tr.keyDue[i] = false
	bytes := int(simBitrates[i] / 8 * int64(simFrameEvery) / int64(time.Second))
	var in inPacket
	for first := true; bytes > 0; first = false {
		n := min(bytes, 1200)
		bytes -= n
		tr.seq[i]++
		p := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 96, SequenceNumber: tr.seq[i],
			Timestamp: tr.ts, SSRC: l.ssrc, Marker: bytes == 0}}
		p.Payload = make([]byte, n-12)
		if first {
			p.Payload[0] = 0x10 // S bit, partition 0
			if !key {
				p.Payload[1] = 0x01
			}
		}
		b, err := p.Marshal()
		if err != nil {
			s.t.Fatal(err)
		}
		tr.up.forward(l, b, &in, false)
	}
}

// loop forwards what is due to bandwidth control, as Participant.run
// does, in a fixed order.
func (s *bwSim) loop() {
	for {
		select {
		case <-s.bw.decreases():
			d := simDecrease{at: s.at(), estimate: s.estimate(), before: s.targets()}
			s.bw.decreased(s.clock.now)
			d.after = s.targets()
			s.decreases = append(s.decreases, d)
			continue
		default:
		}
		select {
		case <-s.bw.allocateTicks():
			s.bw.tick(s.clock.now)
			continue
		default:
		}
		select {
		case at := <-s.bw.padTicks():
			s.bw.pad(at)
			continue
		default:
		}
		return
	}
}

// run steps the simulation until until is true after a step, or for at
// most limit; it reports whether until became true.
func (s *bwSim) run(limit time.Duration, until func() bool) bool {
	for end := s.clock.now.Add(limit); s.clock.now.Before(end); {
		s.step()
		if until != nil && until() {
			return true
		}
	}
	return false
}

// current returns the layer each track is forwarded at (-1: none).
func (s *bwSim) current() []int {
	var out []int
	for _, tr := range s.tracks {
		cur, _ := tr.down.Layers()
		out = append(out, cur)
	}
	return out
}

// targets returns the layer each track is switching to (-1: paused).
func (s *bwSim) targets() []int {
	var out []int
	for _, tr := range s.tracks {
		_, target := tr.down.Layers()
		out = append(out, target)
	}
	return out
}

// layersCost is the bits/s of the given layers.
func layersCost(layers []int) int64 {
	var sum int64
	for _, l := range layers {
		if l >= 0 {
			sum += simBitrates[l]
		}
	}
	return sum
}

func (s *bwSim) estimate() int64 {
	est, ok := s.link.e.Estimate(s.clock.now)
	if !ok {
		s.t.Fatalf("at %v: no estimate while feedback flows", s.at())
	}
	return est
}

func allAt(layers []int, want int) bool {
	for _, l := range layers {
		if l != want {
			return false
		}
	}
	return true
}

// TestBandwidthControlFollowsTheEstimate drives a subscriber of two
// simulcast tracks over a link that narrows and then widens again: both
// tracks reach their top layer, the first decrease of the estimate steps
// them down at once (as the decrease is handled, not at the next
// allocation tick) to layers that fit, the way back up is probed with
// padding, both climb back to the top, and no padding is sent while both
// are there.
func TestBandwidthControlFollowsTheEstimate(t *testing.T) {
	const narrowAt, widenAt = 4 * time.Second, 12 * time.Second
	const narrow = 700_000
	s := newBWSim(t, func(at time.Duration) int64 {
		if at >= narrowAt && at < widenAt {
			return narrow
		}
		return 5_000_000
	})
	if !s.run(narrowAt, func() bool { return allAt(s.current(), 2) }) {
		t.Fatalf("layers %v after %v on a wide link, want both at 2", s.current(), s.at())
	}
	t.Logf("both at layer 2 at %v", s.at())
	s.run(narrowAt-s.at(), nil)

	// The link narrows: the first decrease steps down at once, as it
	// is handled, to layers that fit the new estimate.
	if !s.run(2*time.Second, func() bool { return len(s.decreases) > 0 }) {
		t.Fatalf("the estimate did not decrease within 2 s of the link narrowing to %d (estimate %d)", narrow, s.estimate())
	}
	d := s.decreases[0]
	t.Logf("first decrease %v after the narrowing, to %d: targets %v -> %v", d.at-narrowAt, d.estimate, d.before, d.after)
	if !allAt(d.before, 2) || allAt(d.after, 2) || layersCost(d.after) > d.estimate {
		t.Errorf("the decrease to %d changed targets %v to %v (%d bits/s), want a step down that fits", d.estimate, d.before, d.after, layersCost(d.after))
	}

	s.run(widenAt-s.at(), nil)
	if cost := layersCost(s.current()); cost > narrow {
		t.Errorf("layers %v (%d bits/s) on a link of %d", s.current(), cost, narrow)
	}

	// The link widens: padding probes the way back, and both climb.
	padding := s.padding
	if !s.run(40*time.Second, func() bool { return allAt(s.current(), 2) }) {
		t.Fatalf("layers %v %v after the link widened (estimate %d, %d padding packets)", s.current(), s.at()-widenAt, s.estimate(), s.padding-padding)
	}
	t.Logf("back at layer 2 %v after the link widened, estimate %d, %d padding packets", s.at()-widenAt, s.estimate(), s.padding-padding)
	if s.padding == padding {
		t.Error("climbed back without a probe's padding")
	}

	// Nothing more is wanted: no padding.
	padding = s.padding
	s.run(10*time.Second, func() bool {
		if s.bw.padTicks() != nil {
			t.Fatalf("padding ticks at %v with layers %v", s.at(), s.current())
		}
		return false
	})
	if s.padding != padding || !allAt(s.current(), 2) {
		t.Errorf("at the top layers: %d padding packets in 10 s, layers %v", s.padding-padding, s.current())
	}
	if s.paddingAtTop != 0 {
		t.Errorf("%d padding packets sent while both tracks were at their top layer", s.paddingAtTop)
	}
}

// TestBandwidthControlPadsOnlyWhileSomethingIsWanted: a probe that is
// padding stops at its next pad tick once the subscriber caps its tracks
// at the layers it gets, and no probe starts again.
func TestBandwidthControlPadsOnlyWhileSomethingIsWanted(t *testing.T) {
	const narrowAt, widenAt = 2 * time.Second, 6 * time.Second
	s := newBWSim(t, func(at time.Duration) int64 {
		if at >= narrowAt && at < widenAt {
			return 700_000
		}
		return 5_000_000
	})
	s.run(widenAt, nil)
	if !s.run(20*time.Second, func() bool { return s.bw.padTicks() != nil && !allAt(s.current(), 2) }) {
		t.Fatalf("no probe padding below the top layers within 20 s of the link widening (layers %v)", s.current())
	}
	// Let the probe send some padding first.
	padding := s.padding
	s.run(100*time.Millisecond, nil)
	if s.padding == padding || s.bw.padTicks() == nil {
		t.Fatalf("a probe under way sent %d padding packets in 100 ms", s.padding-padding)
	}
	// The subscriber caps each track at the layer it gets (set_layer):
	// nothing more is wanted.
	capped := s.current()
	for i, tr := range s.tracks {
		if capped[i] < 0 {
			t.Fatalf("layers %v: a track is paused", capped)
		}
		tr.down.maxLayer.Store(int32(capped[i]))
	}
	s.bw.allocate(s.clock.now)
	padding = s.padding
	s.run(probeEvery, nil)
	if s.bw.padTicks() != nil {
		t.Error("padding still ticks after a pad tick with nothing wanted")
	}
	s.run(5*time.Second, nil)
	if s.padding != padding {
		t.Errorf("%d padding packets sent with the tracks capped at the layers %v they get", s.padding-padding, capped)
	}
	if got := s.current(); !slices.Equal(got, capped) {
		t.Errorf("layers %v after capping at %v", got, capped)
	}
}

// padSubscriber is bandwidth control of a subscriber of two simulcast
// video tracks on a fake clock, each track's three layers known at
// simBitrates, writing to w, for the benchmark and the allocation test.
func padSubscriber(tb testing.TB) (*bandwidthControl, *fakeClock, *discard) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	metrics := NewMetrics(nil)
	bw := newBandwidthControl(NewBandwidthEstimator(), metrics, slog.New(slog.NewTextHandler(io.Discard, nil)), func() string { return "" }, clock.newTicker)
	w := &discard{}
	for k, id := range []string{"TR_a", "TR_b"} {
		u := newUpTrack(upTrackParams{id: id, publisherID: "PA_" + id, kind: webrtc.RTPCodecTypeVideo, codec: vp8,
			cacheSize: 1024, keyframeEvery: time.Hour, sendPLI: func(uint32) {}, now: func() time.Time { return clock.now }, metrics: metrics})
		var ls []*layer
		for i, rid := range []string{"q", "h", "f"} {
			l, _ := u.addLayer(i, rid, uint32(10*k+i+1))
			ls = append(ls, l)
		}
		bw.add(bindDownTrack(tb, u, uint32(100+k), 96, w))
		var hdr inPacket
		for i, l := range ls {
			u.forward(l, simulcastPacket(l.ssrc, 1, 3000, true), &hdr, false)
			l.bitrate.Store(simBitrates[i])
		}
	}
	return bw, clock, w
}

// startPadding makes bw pad: an estimate under the wanted layers, and a
// probe that lasts an hour.
func startPadding(bw *bandwidthControl, now time.Time) {
	bw.bwe.OnREMB(500_000, now)
	bw.allocate(now)
	bw.prober = Prober{sending: true, start: now, end: now.Add(time.Hour), base: 500_000, goal: 1_000_000}
	bw.padLast = now
}

// TestBandwidthControlPadDoesNotAllocate: a pad tick, every 20 ms of a
// probe, allocates nothing.
func TestBandwidthControlPadDoesNotAllocate(t *testing.T) {
	bw, clock, w := padSubscriber(t)
	startPadding(bw, clock.now)
	allocs := testing.AllocsPerRun(100, func() {
		clock.now = clock.now.Add(probeEvery)
		bw.pad(clock.now)
	})
	if w.packets == 0 {
		t.Fatal("no padding written")
	}
	if allocs != 0 {
		t.Errorf("%v allocations per pad tick", allocs)
	}
}

// BenchmarkBandwidthControl measures its two ticks for a subscriber of
// two simulcast video tracks: the allocation tick (the Allocator's choice
// and the probe decision), and a pad tick of a probe under way.
func BenchmarkBandwidthControl(b *testing.B) {
	bw, clock, w := padSubscriber(b)
	b.Run("tick", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			bw.bwe.OnREMB(500_000, clock.now)
			bw.tick(clock.now)
		}
	})
	b.Run("pad", func(b *testing.B) {
		startPadding(bw, clock.now)
		b.ReportAllocs()
		b.ResetTimer()
		before := w.packets
		for i := 0; i < b.N; i++ {
			clock.now = clock.now.Add(probeEvery)
			bw.pad(clock.now)
		}
		b.StopTimer()
		if w.packets == before {
			b.Fatal("no padding written")
		}
	})
}

// TestTwinsComeLast: a subscriber receives ada twice (her session moving
// off a node and its successor) and bob, with room for two lowest layers
// only. The successor's video flows; the other session's was subscribed
// just now, at the default cap, which would put it first. It comes last:
// ada's flowing picture and bob's keep their layer, and the twin waits.
func TestTwinsComeLast(t *testing.T) {
	up := func(identity string) *DownTrack {
		return &DownTrack{up: &UpTrack{identity: identity, source: SourceCamera}}
	}
	downs := []*DownTrack{up("ada"), up("ada"), up("bob")}
	demands := []VideoDemand{
		{TrackID: "TR_ada_old", Priority: 2, MaxLayer: 2, Bitrates: simulcastRates, Current: -1},
		{TrackID: "TR_ada_new", Priority: 1, MaxLayer: 1, Bitrates: simulcastRates, Current: 0},
		{TrackID: "TR_bob", Priority: 1, MaxLayer: 1, Bitrates: simulcastRates, Current: 0},
	}
	now := time.Unix(1000, 0)
	if got := NewAllocator().Allocate(now, 350_000, true, slices.Clone(demands)); slices.Equal(got, []int{-1, 0, 0}) {
		t.Fatalf("without twins ranked, got %v: the case does not show the rule", got)
	}
	b := &bandwidthControl{}
	b.rankTwins(demands, downs)
	if got := NewAllocator().Allocate(now, 350_000, true, demands); !slices.Equal(got, []int{-1, 0, 0}) {
		t.Errorf("got layers %v, want [-1 0 0]: ada's flowing picture and bob's kept, her other session paused", got)
	}
	// Both flowing: the one asked for larger is the picture shown.
	demands = []VideoDemand{
		{TrackID: "TR_ada_old", Priority: 0, MaxLayer: 0, Bitrates: simulcastRates, Current: 0},
		{TrackID: "TR_ada_new", Priority: 1, MaxLayer: 1, Bitrates: simulcastRates, Current: 0},
		{TrackID: "TR_bob", Priority: 1, MaxLayer: 1, Bitrates: simulcastRates, Current: 0},
	}
	b.rankTwins(demands, downs)
	if demands[0].Priority != -1 || demands[1].Priority != 1 {
		t.Errorf("priorities %d and %d, want the smaller one (-1) last and the larger kept (1)", demands[0].Priority, demands[1].Priority)
	}
}
