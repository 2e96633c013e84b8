package sfu

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// link simulates a subscriber link for the estimator: every 50 ms a
// feedback reports the packets sent in it, each 1,200 bytes, at rate
// bits/s, delivered after base + queue delay, some lost.
type link struct {
	e       *BandwidthEstimator
	now     time.Time
	remote  time.Time // receiver's clock, decades off ours
	queue   time.Duration
	lossPct int
	count   int // packets sent so far
}

func newLink() *link {
	t := time.Unix(1_800_000_000, 0)
	return &link{e: NewBandwidthEstimator(), now: t, remote: time.Unix(0, 0)}
}

func (l *link) run(d time.Duration, rate int64) {
	for end := l.now.Add(d); l.now.Before(end); l.now = l.now.Add(50 * time.Millisecond) {
		n := max(1, int(rate/8/1200/20))
		acks := make([]ackSample, 0, n)
		for i := 0; i < n; i++ {
			sent := l.now.Add(time.Duration(i) * 50 * time.Millisecond / time.Duration(max(n, 1)))
			arrival := l.remote.Add(sent.Sub(time.Unix(1_800_000_000, 0)) + 10*time.Millisecond + l.queue)
			l.count++
			lost := l.lossPct > 0 && l.count%(100/l.lossPct) == 0
			acks = append(acks, ackSample{sent: sent, arrival: arrival, size: 1200, lost: lost})
		}
		l.e.OnFeedback(acks, l.now)
	}
}

func (l *link) estimate(t *testing.T) int64 {
	t.Helper()
	bps, ok := l.e.Estimate(l.now)
	if !ok {
		t.Fatal("no estimate while feedback flows")
	}
	return bps
}

func TestEstimatorGrowsOnAnIdleLink(t *testing.T) {
	l := newLink()
	l.run(2*time.Second, 2_000_000)
	if got := l.estimate(t); got < 5_000_000 {
		t.Fatalf("estimate after 2 s without queueing: %d, want >= 5M (35%%/s from 3M)", got)
	}
}

func TestEstimatorStepsDownOnQueueing(t *testing.T) {
	l := newLink()
	l.run(time.Second, 400_000)
	l.queue = 80 * time.Millisecond // the bottleneck's queue fills
	start := l.now
	for l.estimate(t) > 500_000 {
		l.run(50*time.Millisecond, 400_000)
		if l.now.Sub(start) > 2*time.Second {
			t.Fatalf("estimate still %d after 2 s of queueing at 400k", l.estimate(t))
		}
	}
	t.Logf("stepped down below 500k in %v", l.now.Sub(start))
	// While the queue stays, it does not grow.
	before := l.estimate(t)
	l.run(time.Second, 300_000)
	if after := l.estimate(t); after > before {
		t.Errorf("estimate grew from %d to %d under queueing", before, after)
	}
}

func TestEstimatorLoss(t *testing.T) {
	cases := []struct {
		lossPct int
		grow    bool
		shrink  bool
	}{
		{0, true, false},
		{5, false, false}, // 2-10%: hold
		{20, false, true},
	}
	for _, c := range cases {
		l := newLink()
		l.lossPct = c.lossPct
		l.run(time.Second, 1_000_000) // fill the loss window
		before := l.estimate(t)
		l.run(2*time.Second, 1_000_000)
		after := l.estimate(t)
		if c.grow != (after > before) || c.shrink != (after < before) {
			t.Errorf("%d%% loss: %d -> %d", c.lossPct, before, after)
		}
	}
}

func TestEstimatorClimbsBackAfterCongestion(t *testing.T) {
	l := newLink()
	l.run(time.Second, 350_000)
	l.queue = 80 * time.Millisecond
	l.run(3*time.Second, 350_000)
	low := l.estimate(t)
	if low > 500_000 {
		t.Fatalf("estimate %d after 3 s of queueing at 350k", low)
	}
	l.queue = 0
	start := l.now
	for l.estimate(t) < 2_500_000 {
		l.run(100*time.Millisecond, l.estimate(t)*8/10)
		if l.now.Sub(start) > 20*time.Second {
			t.Fatalf("estimate %d 20 s after the queue cleared (from %d)", l.estimate(t), low)
		}
	}
	t.Logf("from %d to 2.5M in %v", low, l.now.Sub(start))
}

func TestEstimatorREMBFallback(t *testing.T) {
	e := NewBandwidthEstimator()
	now := time.Unix(1000, 0)
	if _, ok := e.Estimate(now); ok {
		t.Fatal("an estimate without any feedback")
	}
	e.OnREMB(700_000, now)
	if bps, ok := e.Estimate(now.Add(time.Second)); !ok || bps != 700_000 {
		t.Fatalf("REMB estimate %d %v", bps, ok)
	}
	if _, ok := e.Estimate(now.Add(3 * time.Second)); ok {
		t.Fatal("a stale REMB still counts")
	}
}

// TestTWCCFeedbackParsing sends packets through the interceptor and feeds
// back a real TWCC report: the estimator must see them, one lost, with
// their sizes and departure times; a packet whose slot was taken by a
// later one is not matched.
func TestTWCCFeedbackParsing(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newBWEFactory(func() time.Time { return now }, nil)
	i, _ := f.NewInterceptor("")
	b := i.(*bweInterceptor)
	w := b.BindLocalStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 5}}},
		interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	size := 0
	send := func(seq uint16) {
		h := &rtp.Header{Version: 2, SSRC: 1}
		_ = h.SetExtension(5, []byte{byte(seq >> 8), byte(seq)})
		size = h.MarshalSize() + 1000
		if _, err := w.Write(h, make([]byte, 1000), nil); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Millisecond)
	}
	for seq := uint16(100); seq < 104; seq++ {
		send(seq)
	}
	start := now.Add(-40 * time.Millisecond)
	fb := &rtcp.TransportLayerCC{
		BaseSequenceNumber: 100, PacketStatusCount: 4, ReferenceTime: 1,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{
			SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit,
			SymbolList: []uint16{rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketNotReceived, rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketReceivedSmallDelta},
		}},
		RecvDeltas: []*rtcp.RecvDelta{
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 20000},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 10000},
		},
	}
	b.onFeedback(fb)
	if len(b.acks) != 4 {
		t.Fatalf("%d acks, want 4", len(b.acks))
	}
	for k, a := range b.acks {
		if a.lost != (k == 1) || a.size != size || !a.sent.Equal(start.Add(time.Duration(k)*10*time.Millisecond)) {
			t.Errorf("ack %d: %+v, want lost %v, size %d, sent %v", k, a, k == 1, size, start.Add(time.Duration(k)*10*time.Millisecond))
		}
	}
	if d := b.acks[3].arrival.Sub(b.acks[0].arrival); d != 30*time.Millisecond {
		t.Errorf("arrival spacing %v, want 30ms", d)
	}
	if _, ok := b.est.Estimate(now); !ok {
		t.Error("feedback did not reach the estimator")
	}

	send(100 + sentRing) // takes packet 100's slot
	b.onFeedback(fb)
	if len(b.acks) != 3 {
		t.Fatalf("%d acks after packet 100's slot was reused, want 3", len(b.acks))
	}
}

// TestEstimatorFirstDecreaseMeetsTheNewCapacity sends 820 kbit/s of video
// (a frame every 50 ms, its packets back to back) over a link that narrows
// to 350 kbit/s after 1 s: the first decrease must take the estimate to the
// new capacity, whether the bottleneck's queue only grows, also drops what
// overflows it, or is a token bucket whose burst first lets through more
// than the rate (tc's tbf, as the browser tests shape), and whether the
// receiver stamps arrivals as they come or in batches, as a busy receiver
// does.
func TestEstimatorFirstDecreaseMeetsTheNewCapacity(t *testing.T) {
	for _, c := range []bottleneck{
		{name: "unbounded queue"},
		{name: "100 ms queue, tail drop", latency: 100 * time.Millisecond},
		{name: "token bucket", latency: 100 * time.Millisecond, burst: 10 * 1024},
		{name: "token bucket, batched arrival stamps", latency: 100 * time.Millisecond, burst: 10 * 1024, stampEvery: 15 * time.Millisecond},
		{name: "token bucket, keyframe at the narrowing", latency: 100 * time.Millisecond, burst: 10 * 1024, keyframe: 27_000},
	} {
		t.Run(c.name, func(t *testing.T) { testFirstDecrease(t, c) })
	}
}

// bottleneck models the narrowed link: a rate, with a token bucket of
// burst bytes (full when the link narrows) and a queue that drops packets
// waiting longer than latency (0: unbounded); the receiver stamps arrivals
// at multiples of stampEvery (0: exactly).
type bottleneck struct {
	name       string
	latency    time.Duration
	burst      int
	stampEvery time.Duration
	keyframe   int // bytes of a keyframe sent just as the link narrows
}

func testFirstDecrease(t *testing.T, b bottleneck) {
	e := NewBandwidthEstimator()
	start := time.Unix(1_800_000_000, 0)
	remote := time.Unix(0, 0)
	const size, sendRate, capacity = 1200, 820_000, 350_000
	const frameEvery = 50 * time.Millisecond
	narrowAt := start.Add(time.Second)
	perByte := time.Second * 8 / capacity
	var departed time.Time // when the last packet left the bottleneck
	var tokens float64     // the bucket's bytes at departed
	var inFlight []ackSample
	fbAt := start.Add(60 * time.Millisecond)
	for frame := 0; ; frame++ {
		at := start.Add(time.Duration(frame) * frameEvery)
		if at.Sub(narrowAt) > 2*time.Second {
			break
		}
		bytes := sendRate / 8 * int(frameEvery) / int(time.Second)
		if b.keyframe > 0 && at.Equal(narrowAt) {
			bytes = b.keyframe
		}
		for i := 0; bytes > 0; i++ {
			sent := at.Add(time.Duration(i) * 20 * time.Microsecond)
			n := min(size, bytes)
			bytes -= n
			out := sent
			lost := false
			if !sent.Before(narrowAt) {
				if departed.Before(narrowAt) {
					departed, tokens = narrowAt, float64(b.burst)
				}
				from := maxTime(sent, departed)
				have := min(float64(b.burst), tokens+float64(from.Sub(departed))/float64(perByte))
				out = from
				if have < float64(n) {
					out = from.Add(time.Duration((float64(n) - have) * float64(perByte)))
					have = float64(n)
				}
				if b.latency > 0 && out.Sub(sent) > b.latency {
					lost = true
				} else {
					departed, tokens = out, have-float64(n)
				}
			}
			arrival := remote.Add(out.Sub(start) + 10*time.Millisecond)
			if b.stampEvery > 0 {
				arrival = arrival.Truncate(b.stampEvery).Add(b.stampEvery)
			}
			inFlight = append(inFlight, ackSample{sent: sent, arrival: arrival, size: n, lost: lost})
		}
		// Feedback every 60 ms, for what has arrived by then (a lost
		// packet is reported with those around it).
		for next := at.Add(frameEvery); !fbAt.After(next); fbAt = fbAt.Add(60 * time.Millisecond) {
			var acks []ackSample
			rest := inFlight[:0]
			for _, a := range inFlight {
				if !a.arrival.After(remote.Add(fbAt.Sub(start))) {
					if a.lost {
						a.arrival = time.Time{}
					}
					acks = append(acks, a)
				} else {
					rest = append(rest, a)
				}
			}
			inFlight = rest
			if len(acks) == 0 {
				continue
			}
			before, _ := e.Estimate(fbAt)
			e.OnFeedback(acks, fbAt)
			after, _ := e.Estimate(fbAt)
			if after >= before {
				continue
			}
			t.Logf("first decrease %v after the link narrowed: %d -> %d", fbAt.Sub(narrowAt).Round(time.Millisecond), before, after)
			if after > capacity {
				t.Errorf("first decrease to %d, want at most the new capacity %d", after, capacity)
			}
			if d := fbAt.Sub(narrowAt); d > time.Second {
				t.Errorf("first decrease %v after the link narrowed, want within 1 s", d)
			}
			select {
			case <-e.Decreased():
			default:
				t.Error("Decreased not signalled")
			}
			return
		}
	}
	t.Fatal("the estimate never decreased")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
