package loadtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// startCallTestServer is startSampleTestServer with peer to peer for two
// enabled or not.
func startCallTestServer(t *testing.T, p2p bool) *sampleTestServer {
	t.Helper()
	n := nodetest.Start(t, func(c *node.Config) { c.Keys, c.Dev, c.SFU.P2P.Enabled = sampleTestKeys, true, p2p })
	return &sampleTestServer{wsURL: "ws://" + n.Addr().String() + "/ws", keys: n.Keys()}
}

// TestRunTwoPartyCalls runs two two-party calls against a real SFU with
// peer to peer enabled: both go direct, every caller receives its peer's
// media over the peer connection, and while both are direct the server
// forwards nothing. Against a server with it off, the same calls are
// counted as never direct, with nothing received directly.
func TestRunTwoPartyCalls(t *testing.T) {
	cfg := RunConfig{
		Rooms: 2, P2P: true, Duration: 10 * time.Second, LoopbackOnly: true, RoomPrefix: "call",
		Publishers: 5, Subscribers: 7, // not used: two callers a room
	}
	t.Run("direct", func(t *testing.T) {
		leaks := goleak.IgnoreCurrent()
		// Registered first, so it runs after the server is closed.
		t.Cleanup(func() {
			goleak.VerifyNone(t, leaks, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
		})
		ts := startCallTestServer(t, true)
		cfg := cfg
		cfg.URLs, cfg.Token = []string{ts.wsURL}, ts.mint
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := rep.P2P
		if c == nil {
			t.Fatal("no P2P section in the report of a run of calls")
		}
		if rep.Publishers != 4 || rep.Subscribers != 4 || rep.NotJoined != 0 {
			t.Errorf("%d publishers, %d subscribers, %d not joined: want the 4 callers both, all joined", rep.Publishers, rep.Subscribers, rep.NotJoined)
		}
		if rep.TracksExpected != 8 || rep.TracksReceived != 8 {
			t.Errorf("tracks %d of %d, want 8 of 8 (each caller its peer's audio and video)", rep.TracksReceived, rep.TracksExpected)
		}
		if c.Calls != 2 || c.Direct != 2 || c.NeverDirect != 0 || c.FellBack != 0 {
			t.Errorf("calls %+v: want both direct, none fallen back", c)
		}
		if c.AllDirectS < 2 || c.AllDirectForwardedPPS > 1 {
			t.Errorf("%d s with every call direct, %.1f packets/s forwarded then: want some, none forwarded", c.AllDirectS, c.AllDirectForwardedPPS)
		}
		if c.PeerPacketsMin <= 0 || c.PeerPackets <= c.SFUPackets {
			t.Errorf("%d packets over peer connections (the least a caller got: %d), %d from the SFU: want every caller's media mostly direct",
				c.PeerPackets, c.PeerPacketsMin, c.SFUPackets)
		}
		if c.DirectMS.P50 <= 0 || c.DirectMS.P99 < c.DirectMS.P50 {
			t.Errorf("direct media p50 %.0f p99 %.0f ms, want measured", c.DirectMS.P50, c.DirectMS.P99)
		}
		// The seconds in which both calls were direct: after the first
		// two, which may still count what was forwarded before (the
		// server's figures lag by up to a second), nothing.
		var direct []Second
		for _, s := range rep.Samples {
			if s.DirectCalls == 2 {
				direct = append(direct, s)
			}
		}
		if len(direct) < 4 {
			t.Fatalf("%d seconds with both calls direct in %d: %+v", len(direct), len(rep.Samples), rep.Samples)
		}
		for _, s := range direct[2:] {
			if s.ForwardedPPS > 1 {
				t.Errorf("at %.0f s, with both calls direct, the server forwarded %.0f packets/s, want none (seconds: %+v)", s.T, s.ForwardedPPS, rep.Samples)
			}
		}
		if rep.LatencyMS.P50 <= 0 || rep.PacketsLost != 0 {
			t.Errorf("latency p50 %.2f ms, %d packets lost: want measured over both paths, none lost", rep.LatencyMS.P50, rep.PacketsLost)
		}
		var table bytes.Buffer
		rep.WriteTable(&table)
		if !strings.Contains(table.String(), "direct                2/2") {
			t.Errorf("the table does not give 2/2 calls direct:\n%s", table.String())
		}
		t.Logf("direct media p50 %.0f p99 %.0f ms; %d packets direct, %d from the SFU; %d s all direct, %.0f fwd pkt/s then; latency p50 %.2f p99 %.2f ms",
			c.DirectMS.P50, c.DirectMS.P99, c.PeerPackets, c.SFUPackets, c.AllDirectS, c.AllDirectForwardedPPS, rep.LatencyMS.P50, rep.LatencyMS.P99)
	})
	t.Run("server p2p off", func(t *testing.T) {
		ts := startCallTestServer(t, false)
		cfg := cfg
		cfg.URLs, cfg.Token, cfg.Duration = []string{ts.wsURL}, ts.mint, 5*time.Second
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := rep.P2P
		if c.Direct != 0 || c.NeverDirect != 2 || c.NeverDirectWhy[whyNoPeerStart] != 2 || c.PeerPackets != 0 || c.AllDirectS != 0 {
			t.Errorf("calls %+v: want both never direct (no peer_start), nothing received directly", c)
		}
		if rep.TracksReceived != 8 || c.SFUPackets == 0 || rep.Server.ForwardedPPS == 0 {
			t.Errorf("tracks %d of 8, %d packets from the SFU, %.0f forwarded/s: want the calls carried by the SFU",
				rep.TracksReceived, c.SFUPackets, rep.Server.ForwardedPPS)
		}
	})
}
