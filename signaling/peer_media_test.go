package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// switchGapLimit is the longest freeze a switch of path may cause: a
// browser's freeze threshold.
const switchGapLimit = loadtest.FreezeGap

func withP2P(o *loadtest.Options) { o.P2P = true }

func mustPublish(t *testing.T, c *loadtest.Client) {
	t.Helper()
	if err := c.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
}

// waitMode waits for c to be told the room's mode is mode, for reason.
func waitMode(ctx context.Context, t *testing.T, c *loadtest.Client, mode, reason string) {
	t.Helper()
	m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "mode" || m.Type == "peer_end" })
	if err != nil || m.Type != "mode" || m.Mode != mode || m.Reason != reason {
		t.Fatalf("%s: %s %q reason %q (%v), want mode %s, %s", c.Self.ID, m.Type, m.Mode, m.Reason, err, mode, reason)
	}
	// The client acts on it on its own goroutine.
	eventually(t, 5*time.Second, c.Self.ID+" in mode "+mode, func() bool { return c.PeerStatus().Mode == mode })
}

// peerFrames is how many video frames of id c received over its peer
// connection.
func peerFrames(c *loadtest.Client, id string) int { return loadtest.VideoFrames(c.ReceivedPeer(), id) }

func sfuFrames(c *loadtest.Client, id string) int {
	tc, _ := videoFrom(c, id)
	return tc.Frames
}

// lastSwitch is c's latest switch of path, which must be to mode.
func lastSwitch(t *testing.T, c *loadtest.Client, to string) loadtest.PathSwitch {
	t.Helper()
	sw := c.PeerStatus().Switches
	if len(sw) == 0 || sw[len(sw)-1].To != to {
		t.Fatalf("%s: switches %+v, want the last to %s", c.Self.ID, sw, to)
	}
	return sw[len(sw)-1]
}

// noErrors fails if c was refused anything or failed on its side.
func noErrors(t *testing.T, c *loadtest.Client) {
	t.Helper()
	for _, m := range c.Messages() {
		if m.Type == "error" || m.Type == "client_error" {
			t.Errorf("%s: %s %s %s (ref %s)", c.Self.ID, m.Type, m.Code, m.Message, m.Ref)
		}
	}
}

// forwardedFlat checks that the SFU forwards nothing for d while both
// still receive each other's video over their peer connection.
func forwardedFlat(t *testing.T, ts *testServer, d time.Duration, a, b *loadtest.Client) {
	t.Helper()
	fwd := testutil.ToFloat64(ts.metrics.PacketsForwarded)
	fa, fb := peerFrames(a, b.Self.ID), peerFrames(b, a.Self.ID)
	sa, sb := sfuFrames(a, b.Self.ID), sfuFrames(b, a.Self.ID)
	time.Sleep(d)
	if n := testutil.ToFloat64(ts.metrics.PacketsForwarded) - fwd; n != 0 {
		t.Errorf("the SFU forwarded %v packets in %v of mode p2p, want 0", n, d)
	}
	// 30 fps: at least a third of the frames, whatever the load.
	want := int(d.Seconds() * 10)
	if n := peerFrames(a, b.Self.ID) - fa; n < want {
		t.Errorf("%s received %d video frames of %s directly in %v, want at least %d", a.Self.ID, n, b.Self.ID, d, want)
	}
	if n := peerFrames(b, a.Self.ID) - fb; n < want {
		t.Errorf("%s received %d video frames of %s directly in %v, want at least %d", b.Self.ID, n, a.Self.ID, d, want)
	}
	if n := sfuFrames(a, b.Self.ID) - sa + sfuFrames(b, a.Self.ID) - sb; n != 0 {
		t.Errorf("%d video frames came through the SFU in mode p2p", n)
	}
	t.Logf("mode p2p for %v: %v packets forwarded by the SFU", d, testutil.ToFloat64(ts.metrics.PacketsForwarded)-fwd)
	if n := testutil.ToFloat64(ts.metrics.P2PRooms); n != 1 {
		t.Errorf("sfu_p2p_rooms %v in mode p2p, want 1", n)
	}
}

// TestPeerToPeerMedia: two clients that take part in peer to peer go
// direct and receive each other's video over their peer connection while
// the SFU forwards nothing; a third joining moves them back to the SFU,
// where everyone receives everyone, with no freeze over the switch; and
// once it left, they go direct again after the delay.
func TestPeerToPeerMedia(t *testing.T) {
	const delay = time.Second
	ts := newTestServerMedia(t, func(c *sfu.Config) { c.P2P.Enabled, c.P2P.Delay = true, delay }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ann := ts.join(ctx, "duo", withP2P)
	mustPublish(t, ann)
	eventually(t, 10*time.Second, "ann's tracks at the SFU", func() bool { return testutil.ToFloat64(ts.metrics.Tracks) == 2 })
	joinAt := time.Now()
	bob := ts.join(ctx, "duo", withP2P)
	mustPublish(t, bob)
	two := []*loadtest.Client{ann, bob}
	other := map[*loadtest.Client]*loadtest.Client{ann: bob, bob: ann}

	// 1. Direct.
	for _, c := range two {
		if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "peer_start" }); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range two {
		waitMode(ctx, t, c, "p2p", sfu.ReasonDirect)
	}
	for _, c := range two {
		st := c.PeerStatus()
		if st.Mode != "p2p" || st.PeerID != other[c].Self.ID || st.Candidate != "host" || st.Path != "host" || st.FirstMedia.IsZero() {
			t.Fatalf("%s: %+v, want mode p2p with %s over a host candidate, its media played", c.Self.ID, st, other[c].Self.ID)
		}
		t.Logf("%s: first direct media %v after the second joined (%v after peer_start), connected at %v",
			c.Self.ID, st.FirstMedia.Sub(joinAt).Round(time.Millisecond), st.FirstMedia.Sub(st.Started).Round(time.Millisecond), st.Connected.Sub(joinAt).Round(time.Millisecond))
	}
	time.Sleep(300 * time.Millisecond) // what was on its way to the SFU arrives
	forwardedFlat(t, ts, 3*time.Second, ann, bob)
	// The SFU keeps bob's subscription to ann's video, idle, for the
	// return.
	kept := false
	rs, _ := ts.sfu.RoomState("duo")
	for _, p := range rs.Participants {
		for _, sub := range p.Subscriptions {
			if p.ID == bob.Self.ID && sub.From == ann.Self.ID && sub.Kind == "video" {
				kept = sub.Target >= 0
			}
		}
	}
	if !kept {
		t.Errorf("in mode p2p: %+v, want bob's subscription to ann's video kept on a layer", rs.Participants)
	}
	for _, c := range two {
		sw := lastSwitch(t, c, "p2p")
		if sw.Gap <= 0 || sw.Gap > switchGapLimit {
			t.Errorf("%s: video gap %v over the switch to p2p, want (0, %v]", c.Self.ID, sw.Gap, switchGapLimit)
		}
		t.Logf("%s: video gap %v over the switch to p2p", c.Self.ID, sw.Gap.Round(time.Millisecond))
		if got := c.PeerStatus().Showing[other[c].Self.ID]; got != loadtest.PathPeer {
			t.Errorf("%s shows %s from %q, want from the peer connection", c.Self.ID, other[c].Self.ID, got)
		}
	}

	// 2. A third joins: back to the SFU.
	carol := ts.join(ctx, "duo", withP2P)
	mustPublish(t, carol)
	for _, c := range two {
		waitMode(ctx, t, c, "sfu", sfu.ReasonThirdJoined)
	}
	everyone := []*loadtest.Client{ann, bob, carol}
	eventually(t, 10*time.Second, "the peer connections closed after the SFU's media played", func() bool {
		for _, c := range two {
			st := c.PeerStatus()
			if st.PeerID != "" || st.Closed.IsZero() || st.Switches[len(st.Switches)-1].Done.IsZero() {
				return false
			}
		}
		return true
	})
	if n := testutil.ToFloat64(ts.metrics.P2PRooms); n != 0 {
		t.Errorf("sfu_p2p_rooms %v after the third joined, want 0", n)
	}
	before := map[[2]*loadtest.Client]int{}
	for _, x := range everyone {
		for _, y := range everyone {
			if x != y {
				before[[2]*loadtest.Client{x, y}] = sfuFrames(x, y.Self.ID)
			}
		}
	}
	time.Sleep(1500 * time.Millisecond) // and past the switches' settling
	for k, n := range before {
		if got := sfuFrames(k[0], k[1].Self.ID) - n; got < 15 {
			t.Errorf("%s received %d video frames of %s through the SFU in 1.5 s, want at least 15", k[0].Self.ID, got, k[1].Self.ID)
		}
	}
	for _, c := range two {
		sw := lastSwitch(t, c, "sfu")
		if sw.Gap <= 0 || sw.Gap > switchGapLimit {
			t.Errorf("%s: video gap %v over the switch to the SFU, want (0, %v]", c.Self.ID, sw.Gap, switchGapLimit)
		}
		t.Logf("%s: video gap %v over the switch to the SFU; SFU media shown %v after the mode message",
			c.Self.ID, sw.Gap.Round(time.Millisecond), sw.Done.Sub(sw.At).Round(time.Millisecond))
		if got := c.PeerStatus().Showing[other[c].Self.ID]; got != loadtest.PathSFU {
			t.Errorf("%s shows %s from %q, want from the SFU", c.Self.ID, other[c].Self.ID, got)
		}
		noErrors(t, c) // the closed report was accepted
	}

	// 3. It leaves: direct again after the delay.
	carol.Leave()
	leftAt := time.Now()
	for _, c := range two {
		if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "peer_start" }); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(leftAt); d < delay-100*time.Millisecond {
			t.Errorf("%s: peer_start %v after the third left, want after the delay of %v", c.Self.ID, d, delay)
		}
	}
	for _, c := range two {
		waitMode(ctx, t, c, "p2p", sfu.ReasonDirect)
	}
	t.Logf("direct again %v after the third left", time.Since(leftAt).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	forwardedFlat(t, ts, 2*time.Second, ann, bob)
	for _, c := range two {
		sw := lastSwitch(t, c, "p2p")
		if sw.Gap <= 0 || sw.Gap > switchGapLimit {
			t.Errorf("%s: video gap %v over the switch back to p2p, want (0, %v]", c.Self.ID, sw.Gap, switchGapLimit)
		}
		t.Logf("%s: video gap %v over the switch back to p2p; longest gap of the call %v",
			c.Self.ID, sw.Gap.Round(time.Millisecond), c.PeerStatus().LongestGap[other[c].Self.ID].Round(time.Millisecond))
		noErrors(t, c)
	}
	for _, step := range []struct {
		step, reason string
		want         float64
	}{{"start", "", 2}, {"p2p", sfu.ReasonDirect, 2}, {"sfu", sfu.ReasonThirdJoined, 1}} {
		if n := testutil.ToFloat64(ts.metrics.PeerSteps.WithLabelValues(step.step, step.reason)); n != step.want {
			t.Errorf("sfu_p2p_steps_total{step=%q,reason=%q} = %v, want %v", step.step, step.reason, n, step.want)
		}
	}
}

// TestPeerToPeerTimeout: in a room of two where one client does not
// implement peer to peer (it ignores peer_start), the peer connection
// times out, both are told peer_end, and the call stays on the SFU with
// media flowing throughout.
func TestPeerToPeerTimeout(t *testing.T) {
	const timeout = 2 * time.Second
	ts := newTestServerMedia(t, func(c *sfu.Config) { c.P2P.Enabled, c.P2P.Timeout = true, timeout }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ann := ts.join(ctx, "duo", withP2P)
	mustPublish(t, ann)
	bob := ts.join(ctx, "duo", func(o *loadtest.Options) { o.P2PIgnored = true })
	mustPublish(t, bob)
	var ended time.Time
	for _, c := range []*loadtest.Client{ann, bob} {
		m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "peer_end" || m.Type == "mode" })
		if err != nil || m.Type != "peer_end" || m.Reason != sfu.ReasonPeerTimeout {
			t.Fatalf("%s: %+v (%v), want peer_end for peer_timeout", c.Self.ID, m, err)
		}
		ended = time.Now()
	}
	if n := testutil.ToFloat64(ts.metrics.PeerSteps.WithLabelValues("end", sfu.ReasonPeerTimeout)); n != 1 {
		t.Errorf("sfu_p2p_steps_total{step=end,reason=peer_timeout} = %v, want 1", n)
	}
	fwd := testutil.ToFloat64(ts.metrics.PacketsForwarded)
	time.Sleep(2 * time.Second) // media goes on through the SFU
	if n := testutil.ToFloat64(ts.metrics.PacketsForwarded) - fwd; n < 100 {
		t.Errorf("the SFU forwarded %v packets in 2 s after the timeout, want the call's", n)
	}
	for _, pair := range [][2]*loadtest.Client{{ann, bob}, {bob, ann}} {
		tc, ok := videoFrom(pair[0], pair[1].Self.ID)
		// Flowing while the peer connection was tried, and since.
		if !ok || ended.Sub(tc.First) < timeout/4 || tc.LongestGap > switchGapLimit || time.Since(tc.Last) > 200*time.Millisecond {
			t.Errorf("%s's video at %s: first %v before peer_end, longest gap %v, last %v ago; want it flowing throughout",
				pair[1].Self.ID, pair[0].Self.ID, ended.Sub(tc.First), tc.LongestGap, time.Since(tc.Last))
		}
	}
	st := ann.PeerStatus()
	if st.Mode != "sfu" || len(st.Switches) != 0 || st.PeerID != "" || st.Closed.IsZero() || !st.Connected.IsZero() {
		t.Errorf("ann: %+v, want the peer connection closed, never connected, no switch", st)
	}
	if got := st.Showing[bob.Self.ID]; got != loadtest.PathSFU {
		t.Errorf("ann shows bob from %q, want from the SFU", got)
	}
	noErrors(t, ann)
}
