package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// peerOffer is a real offer of a pion peer connection with a data channel.
func peerOffer(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel("probe", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// TestPeerSignalingRelayed: in a room of two with p2p on, both are told to
// open a peer connection (the smaller ID offers), offers and candidates
// reach the other stamped with the sender, malformed ones are refused and
// not relayed, both connected make the room p2p, and a third joining
// moves it back to the SFU; messages about a peer connection that is not
// under way get no_peer.
func TestPeerSignalingRelayed(t *testing.T) {
	ts := newTestServerMedia(t, func(c *sfu.Config) { c.P2P.Enabled = true }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	isType := func(typ string) func(loadtest.Message) bool {
		return func(m loadtest.Message) bool { return m.Type == typ }
	}
	// The test speaks for the two: their clients leave the peer messages
	// to it.
	ignore := func(o *loadtest.Options) { o.P2PIgnored = true }
	ann := ts.join(ctx, "duo", ignore)
	bob := ts.join(ctx, "duo", ignore)
	startA, err := ann.WaitFor(ctx, isType("peer_start"))
	if err != nil {
		t.Fatal(err)
	}
	startB, err := bob.WaitFor(ctx, isType("peer_start"))
	if err != nil {
		t.Fatal(err)
	}
	if startA.PeerID != bob.Self.ID || startB.PeerID != ann.Self.ID || startA.Polite == startB.Polite {
		t.Fatalf("peer_start %+v and %+v: want each to name the other, one polite", startA, startB)
	}
	offerer, answerer := ann, bob
	if startA.Polite {
		offerer, answerer = bob, ann
	}
	if offerer.Self.ID > answerer.Self.ID {
		t.Errorf("the offerer %s has the larger ID", offerer.Self.ID)
	}

	sdp := peerOffer(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(offerer.Send(map[string]any{"type": "offer", "target": "peer", "sdp": "not sdp at all"}))
	if m, err := offerer.WaitFor(ctx, isType("error")); err != nil || m.Code != signaling.CodeBadSDP {
		t.Errorf("a malformed peer offer: %+v (%v), want bad_sdp", m, err)
	}
	must(offerer.Send(map[string]any{"type": "offer", "target": "peer", "sdp": sdp}))
	if m, err := answerer.WaitFor(ctx, isType("offer")); err != nil || m.Target != "peer" || m.From != offerer.Self.ID || m.SDP != sdp {
		t.Errorf("the relayed offer: target %q from %q, sdp equal %v (%v)", m.Target, m.From, m.SDP == sdp, err)
	}
	must(answerer.Send(map[string]any{"type": "candidate", "target": "peer", "candidate": map[string]any{"candidate": "candidate:garbage"}}))
	if m, err := answerer.WaitFor(ctx, isType("error")); err != nil || m.Code != signaling.CodeBadCandidate {
		t.Errorf("a malformed peer candidate: %+v (%v), want bad_candidate", m, err)
	}
	cand := "candidate:1 1 udp 2130706431 0c3a1a5e-6f2d-4c4e-9f4b-5b1d9a0c2e11.local 50000 typ host"
	must(answerer.Send(map[string]any{"type": "candidate", "target": "peer", "candidate": map[string]any{"candidate": cand, "sdpMid": "0"}}))
	m, err := offerer.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "candidate" && m.Target == "peer" })
	if err != nil || m.From != answerer.Self.ID || m.Candidate == nil || m.Candidate.Candidate != cand {
		t.Errorf("the relayed candidate: %+v (%v)", m, err)
	}
	must(ann.Send(map[string]any{"type": "peer_state", "state": "sideways"}))
	if m, err := ann.WaitFor(ctx, isType("error")); err != nil || m.Code != signaling.CodeBadMessage {
		t.Errorf("an unknown peer state: %+v (%v), want bad_message", m, err)
	}
	must(ann.Send(map[string]any{"type": "peer_state", "state": "connected", "path": "host"}))
	must(bob.Send(map[string]any{"type": "peer_state", "state": "connected", "path": "srflx"}))
	for _, c := range []*loadtest.Client{ann, bob} {
		if m, err := c.WaitFor(ctx, isType("mode")); err != nil || m.Mode != "p2p" || m.Reason != sfu.ReasonDirect {
			t.Errorf("both connected: %+v (%v), want mode p2p", m, err)
		}
	}

	cid := ts.join(ctx, "duo")
	for _, c := range []*loadtest.Client{ann, bob} {
		if m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "mode" && m.Mode == "sfu" }); err != nil || m.Reason != sfu.ReasonThirdJoined {
			t.Errorf("a third joined: %+v (%v), want mode sfu, third_joined", m, err)
		}
	}
	must(cid.Send(map[string]any{"type": "peer_state", "state": "connected"}))
	if m, err := cid.WaitFor(ctx, isType("error")); err != nil || m.Code != signaling.CodeNoPeer {
		t.Errorf("a report without a peer connection: %+v (%v), want no_peer", m, err)
	}
	// Each of the two says closed once, without error; then no more.
	must(ann.Send(map[string]any{"type": "peer_state", "state": "closed"}))
	must(ann.Send(map[string]any{"type": "offer", "target": "peer", "sdp": sdp}))
	if m, err := ann.WaitFor(ctx, isType("error")); err != nil || m.Code != signaling.CodeNoPeer || m.Ref != "offer" {
		t.Errorf("closed, then a peer offer after the room went back to the SFU: %+v (%v), want no_peer for the offer only", m, err)
	}
	must(ann.Send(map[string]any{"type": "peer_state", "state": "closed"}))
	if m, err := ann.WaitFor(ctx, isType("error")); err != nil || m.Code != signaling.CodeNoPeer || m.Ref != "peer_state" {
		t.Errorf("a second closed: %+v (%v), want no_peer", m, err)
	}
}

// TestPeerToPeerDeclined: a client joining with "p2p": false, or with a
// token whose p2p grant is false, keeps a room of two on the SFU: a third
// participant's join is the next thing either hears, no peer_start.
func TestPeerToPeerDeclined(t *testing.T) {
	no := false
	for _, tc := range []struct {
		name string
		opt  func(*loadtest.Options, *testServer)
	}{
		{"client option", func(o *loadtest.Options, _ *testServer) { o.NoP2P = true }},
		{"client without peer to peer", func(o *loadtest.Options, _ *testServer) { o.P2P = false }},
		{"token grant", func(o *loadtest.Options, ts *testServer) {
			o.Token = ts.token("duo", signaling.Grants{Publish: true, Subscribe: true, P2P: &no})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServerMedia(t, func(c *sfu.Config) { c.P2P.Enabled = true }, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ann := ts.join(ctx, "duo", withP2P)
			bob := ts.join(ctx, "duo", withP2P, func(o *loadtest.Options) { tc.opt(o, ts) })
			ts.join(ctx, "duo")
			for _, c := range []*loadtest.Client{ann, bob} {
				m, err := c.WaitFor(ctx, func(m loadtest.Message) bool {
					return m.Type == "peer_start" || (m.Type == "participants" && len(m.Joined) > 0 && m.Joined[len(m.Joined)-1].ID != ann.Self.ID && m.Joined[len(m.Joined)-1].ID != bob.Self.ID)
				})
				if err != nil || m.Type == "peer_start" {
					t.Errorf("%+v (%v): want no peer_start before the third joined", m, err)
				}
			}
		})
	}
}
