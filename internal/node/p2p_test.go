package node_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// forwardedPackets sums sfu_rtp_packets_forwarded_total over nodes,
// scraped from their /metrics as an operator would.
func forwardedPackets(t *testing.T, nodes []*node.Node) float64 {
	t.Helper()
	keys, err := signaling.ParseKeys(clusterKeys)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := keys.Mint("cluster", signaling.TokenRequest{Room: "any", Identity: "operator", Grants: signaling.Grants{Admin: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, n := range nodes {
		req, err := http.NewRequest(http.MethodGet, "http://"+n.Addr().String()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "sfu_rtp_packets_forwarded_total "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				sum, found = sum+f, true
			}
		}
		resp.Body.Close()
		if !found {
			t.Fatalf("%s/metrics (%d) has no sfu_rtp_packets_forwarded_total", n.Addr(), resp.StatusCode)
		}
	}
	return sum
}

// directFrames is how many video frames of id c received over its peer
// connection.
func directFrames(c *loadtest.Client, id string) int {
	return loadtest.VideoFrames(c.ReceivedPeer(), id)
}

// waitPeerMode waits until c acts in mode (its PeerStatus says so).
func waitPeerMode(t *testing.T, c *loadtest.Client, mode string) {
	t.Helper()
	if s := settle(time.Now().Add(20*time.Second), func() string {
		if st := c.PeerStatus(); st.Mode != mode {
			return "mode " + st.Mode
		}
		return ""
	}); s != "" {
		t.Fatalf("%s: %s, want %s", c.Self.Identity, s, mode)
	}
}

// TestPeerToPeerAcrossNodes: two people whose WebSockets land on two
// different nodes of a cluster on a real redis-server still talk
// directly: the room's host brokers their peer connection through the
// other node's front door, and no node forwards their media. A third
// joining through the third node moves the call to the SFU, where all
// three receive each other; once it left, the two go direct again after
// the delay.
func TestPeerToPeerAcrossNodes(t *testing.T) {
	const delay = time.Second
	store := redisStore(t)
	var nodes []*node.Node
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Keys = clusterKeys
			c.Cluster.NodeID = "node" + strconv.Itoa(i+1)
			c.Cluster.CallTimeout = 20 * time.Second
			c.SFU.P2P.Delay = delay
		}, node.WithStore(store)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const room = "duo"
	dial := func(who string, via int) *loadtest.Client {
		t.Helper()
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(nodes[via]), Token: clusterToken(t, room, who), LoopbackOnly: true, P2P: true})
		if err != nil {
			t.Fatalf("%s joining through node %d: %v", who, via+1, err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatalf("%s publishing: %v", who, err)
		}
		return c
	}
	joinAt := time.Now()
	ann, bob := dial("ann", 0), dial("bob", 1)
	two := []*loadtest.Client{ann, bob}
	other := map[*loadtest.Client]*loadtest.Client{ann: bob, bob: ann}
	for _, c := range two {
		waitPeerMode(t, c, "p2p")
	}
	for _, c := range two {
		st := c.PeerStatus()
		if st.PeerID != other[c].Self.ID || st.FirstMedia.IsZero() {
			t.Fatalf("%s: %+v, want a direct call with %s, its media played", c.Self.Identity, st, other[c].Self.Identity)
		}
		t.Logf("%s: first direct media %v after the first joined", c.Self.Identity, st.FirstMedia.Sub(joinAt).Round(time.Millisecond))
	}
	if got := nodes[1].SFU().RoomCount(); got != 0 {
		t.Errorf("node2 holds %d rooms, want none: bob's session is served by the room's host", got)
	}
	direct := func(d time.Duration) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // what was on its way to the SFU arrives
		fwd := forwardedPackets(t, nodes)
		fa, fb := directFrames(ann, bob.Self.ID), directFrames(bob, ann.Self.ID)
		time.Sleep(d)
		if n := forwardedPackets(t, nodes) - fwd; n != 0 {
			t.Errorf("the nodes forwarded %v packets in %v of mode p2p, want 0", n, d)
		}
		want := int(d.Seconds() * 10) // a third of 30 fps, whatever the load
		if a, b := directFrames(ann, bob.Self.ID)-fa, directFrames(bob, ann.Self.ID)-fb; a < want || b < want {
			t.Errorf("in %v of mode p2p: ann got %d and bob %d video frames directly, want at least %d each", d, a, b, want)
		}
	}
	direct(2 * time.Second)

	cid := dial("cid", 2)
	for _, c := range two {
		waitPeerMode(t, c, "sfu")
	}
	everyone := []*loadtest.Client{ann, bob, cid}
	for _, rx := range everyone {
		for _, tx := range everyone {
			if rx != tx {
				expectFrames(t, rx, tx)
			}
		}
	}

	cid.Leave()
	left := time.Now()
	for _, c := range two {
		waitPeerMode(t, c, "p2p")
	}
	t.Logf("direct again %v after the third left (delay %v)", time.Since(left).Round(time.Millisecond), delay)
	direct(2 * time.Second)
	for _, c := range two {
		for _, sw := range c.PeerStatus().Switches {
			t.Logf("%s: switch to %s, video gap %v", c.Self.Identity, sw.To, sw.Gap.Round(time.Millisecond))
			if sw.Gap <= 0 || sw.Gap > loadtest.FreezeGap {
				t.Errorf("%s: video gap %v over the switch to %s, want (0, %v]", c.Self.Identity, sw.Gap, sw.To, loadtest.FreezeGap)
			}
		}
	}
}

// expectFrames waits until rx receives 15 more video frames of tx
// through the SFU.
func expectFrames(t *testing.T, rx, tx *loadtest.Client) {
	t.Helper()
	frames := func() int { return videoFrames(rx, tx) }
	start := frames()
	if s := settle(time.Now().Add(20*time.Second), func() string {
		if n := frames() - start; n < 15 {
			return strconv.Itoa(n) + " frames"
		}
		return ""
	}); s != "" {
		t.Errorf("%s receiving %s through the SFU: %s, want 15", rx.Self.Identity, tx.Self.Identity, s)
	}
}
