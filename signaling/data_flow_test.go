package signaling_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// TestDataFlood: a participant flooding data is rate limited (one
// rate_limited error per second at most), while a pair in the same room
// keeps its data, every message in order, and its media.
func TestDataFlood(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServerMedia(t, func(c *sfu.Config) {
		c.Data.MessagesPerSecond, c.Data.MessageBurst = 50, 100
	}, nil)
	room := "data-flood"
	pair := newHealthyPair(ctx, t, ts, room)
	for _, c := range []*loadtest.Client{pair.a, pair.b} {
		if err := c.OpenData(ctx); err != nil {
			t.Fatal(err)
		}
	}
	flooder := dataClient(ctx, t, ts, room, dataGrants)
	readyData(ctx, t, pair.a, false, pair.b)
	readyData(ctx, t, flooder, false, pair.b)

	start := time.Now()
	const healthy = 40
	done := make(chan error, 1)
	go func() {
		for i := range healthy {
			if err := pair.a.SendData("calm", []string{pair.b.Self.ID}, []byte(fmt.Sprint(i)), false); err != nil {
				done <- err
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		done <- nil
	}()
	sent := 0
	for time.Since(start) < 2*time.Second {
		if err := flooder.SendData("flood", nil, make([]byte, 200), false); err != nil {
			t.Fatal(err)
		}
		sent++
		if flooder.DataBuffered(false) > 256<<10 {
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantError(ctx, t, flooder, signaling.CodeRateLimited, "data")
	// Let the server read the rest of the flood, and its errors arrive.
	eventually(t, 10*time.Second, "the flood read by the server", func() bool {
		return testutil.ToFloat64(ts.metrics.Data.Received) >= float64(sent)
	})
	time.Sleep(200 * time.Millisecond)
	limited := 0 // Messages has the one wantError took too
	for _, m := range flooder.Messages() {
		if m.Type == "error" && m.Code == signaling.CodeRateLimited {
			limited++
		}
	}
	if max := int(time.Since(start).Seconds()) + 1; limited > max {
		t.Errorf("%d rate_limited errors in %v, want at most one a second", limited, time.Since(start))
	}
	dropped := testutil.ToFloat64(ts.metrics.Data.Dropped.WithLabelValues(signaling.CodeRateLimited))
	t.Logf("flooder sent %d in %v; %v dropped as rate_limited; %d errors", sent, elapsed.Round(time.Millisecond), dropped, limited)
	if dropped < float64(sent)/2 {
		t.Errorf("%v of %d flood messages dropped, want most", dropped, sent)
	}
	// b got every calm message, in order.
	if _, err := pair.b.WaitData(ctx, func(m loadtest.DataMessage) bool {
		return m.Topic == "calm" && string(m.Payload) == fmt.Sprint(healthy-1)
	}); err != nil {
		t.Fatal(err)
	}
	i := 0
	floods := 0
	for _, m := range pair.b.DataReceived() {
		switch m.Topic {
		case "calm":
			if string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("calm message %s, want %d", m.Payload, i)
			}
			i++
		case "flood":
			floods++
		}
	}
	if i != healthy {
		t.Errorf("b got %d of %d calm messages", i, healthy)
	}
	// What the limit let through: the burst and the rate.
	if limit := 100 + int(50*time.Since(start).Seconds()) + 50; floods > limit {
		t.Errorf("b got %d flood messages, over the limit's %d", floods, limit)
	}
	pair.stillReceiving(t)
	noMoreErrors(t, pair.a)
}

// TestDataSlowReceiver: a receiver that never reads fills its own queue
// only: the messages that do not fit are dropped for it, the sender is
// told data_dropped naming it, and a third participant, which the sender
// paces itself to, receives every message, in order.
func TestDataSlowReceiver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServerMedia(t, func(c *sfu.Config) { c.Data.MaxBuffered = 256 << 10 }, nil)
	room := "data-slow"
	a := dataClient(ctx, t, ts, room, dataGrants)
	slow := dataClient(ctx, t, ts, room, dataGrants)
	c := dataClient(ctx, t, ts, room, dataGrants)
	readyData(ctx, t, a, false, slow, c)
	slow.StallData()

	const n, size = 150, 16 << 10
	payload := make([]byte, size)
	for i := range n {
		payload[0], payload[1] = byte(i>>8), byte(i)
		if err := a.SendData("bulk", nil, payload, false); err != nil {
			t.Fatal(err)
		}
		// A window of 8 messages (128 KiB) to c, as an end-to-end protocol
		// would keep: c keeps up; the stalled receiver never does.
		for c.DataCounts().Received < int64(i-8) {
			time.Sleep(time.Millisecond)
		}
	}
	m, err := a.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" })
	if err != nil {
		t.Fatal(err)
	}
	if m.Code != signaling.CodeDataDropped || m.Ref != "data" || m.ParticipantID != slow.Self.ID {
		t.Fatalf("got %s, want data_dropped naming %s", m.Raw, slow.Self.ID)
	}
	if _, err := c.WaitData(ctx, func(m loadtest.DataMessage) bool {
		return m.Topic == "bulk" && int(m.Payload[0])<<8|int(m.Payload[1]) == n-1
	}); err != nil {
		t.Fatalf("c did not get the last message: %v", err)
	}
	i := 0
	for _, m := range c.DataReceived() {
		if m.Topic != "bulk" {
			continue
		}
		if got := int(m.Payload[0])<<8 | int(m.Payload[1]); got != i || len(m.Payload) != size {
			t.Fatalf("c got message %d (%d bytes), want %d", got, len(m.Payload), i)
		}
		i++
	}
	if i != n {
		t.Fatalf("c got %d of %d", i, n)
	}
	dropped := testutil.ToFloat64(ts.metrics.Data.Dropped.WithLabelValues("reliable_buffer"))
	if dropped == 0 {
		t.Error("nothing dropped for the receiver that never reads")
	}
	t.Logf("dropped for the stalled receiver: %v of %d", dropped, n)
}

// TestDataPeerToPeer: in a room of two that went peer to peer, the
// publisher connections to the server stay up and data through the
// server still flows both ways.
func TestDataPeerToPeer(t *testing.T) {
	ts := newTestServerMedia(t, func(c *sfu.Config) { c.P2P.Enabled, c.P2P.Delay = true, time.Second }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ann := ts.join(ctx, "data-duo", withP2P)
	mustPublish(t, ann)
	bob := ts.join(ctx, "data-duo", withP2P)
	mustPublish(t, bob)
	for _, c := range []*loadtest.Client{ann, bob} {
		if err := c.OpenData(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*loadtest.Client{ann, bob} {
		waitMode(ctx, t, c, "p2p", sfu.ReasonDirect)
	}
	time.Sleep(time.Second)
	for _, c := range []*loadtest.Client{ann, bob} {
		if st := c.Publisher().ConnectionState(); st != webrtc.PeerConnectionStateConnected {
			t.Fatalf("%s's publisher connection is %s in mode p2p", c.Self.ID, st)
		}
	}
	readyData(ctx, t, ann, false, bob)
	for _, lossy := range []bool{false, true} {
		p := []byte(fmt.Sprintf("p2p %v", lossy))
		if err := ann.SendData("duo", nil, p, lossy); err != nil {
			t.Fatal(err)
		}
		dataFrom(ctx, t, bob, ann.Self.ID, "duo", p, lossy)
		if err := bob.SendData("duo", []string{ann.Self.ID}, p, lossy); err != nil {
			t.Fatal(err)
		}
		dataFrom(ctx, t, ann, bob.Self.ID, "duo", p, lossy)
	}
	if st := ann.PeerStatus(); st.Mode != "p2p" {
		t.Errorf("the room left p2p: %+v", st)
	}
}
