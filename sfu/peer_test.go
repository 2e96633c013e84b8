package sfu

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// peerEvents returns the peer-to-peer events sent to s so far.
func (s *recordingSink) peerEvents() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for _, ev := range s.events {
		switch ev.(type) {
		case PeerStart, PeerMode, PeerEnd, PeerSignal:
			out = append(out, ev)
		}
	}
	return out
}

// waitPeerEvents waits until s got n peer-to-peer events and returns them.
func waitPeerEvents(t *testing.T, s *recordingSink, n int) []Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := s.peerEvents()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got peer events %+v, want %d", evs, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRoomBrokersPeerConnection: two participants with p2p are asked to
// connect directly, their offers and candidates are relayed between them
// and nobody else, both connected make the room p2p, and a third joining
// moves it back to the SFU. A participant without a peer connection is
// refused with ErrNoPeer.
func TestRoomBrokersPeerConnection(t *testing.T) {
	cfg := Default()
	cfg.UDPPort, cfg.NodeIP = 0, "127.0.0.1"
	cfg.P2P.Enabled = true
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	join := func(name string, p2p bool) (*Participant, *recordingSink) {
		sink := &recordingSink{}
		p, err := s.Join("call", Identity{Identity: name, Grants: Grants{Publish: true, Subscribe: true}, P2P: p2p}, sink)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p, sink
	}
	a, sa := join("ann", true)
	if err := a.ReportPeer(PeerConnected); !errors.Is(err, ErrNoPeer) {
		t.Errorf("a report alone in the room: %v, want ErrNoPeer", err)
	}
	b, sb := join("bob", true)
	first, second, sFirst, sSecond := a, b, sa, sb
	if b.ID() < a.ID() {
		first, second, sFirst, sSecond = b, a, sb, sa
	}
	if got := waitPeerEvents(t, sFirst, 1)[0]; got != (PeerStart{PeerID: second.ID()}) {
		t.Errorf("the first by ID got %+v, want to offer to %s", got, second.ID())
	}
	if got := waitPeerEvents(t, sSecond, 1)[0]; got != (PeerStart{PeerID: first.ID(), Polite: true}) {
		t.Errorf("the second by ID got %+v, want to answer %s politely", got, first.ID())
	}

	cand := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host"}
	if err := first.SignalPeer(PeerSignal{Kind: "offer", SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	if err := second.SignalPeer(PeerSignal{Kind: "answer", SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	if err := second.SignalPeer(PeerSignal{Kind: "candidate", Candidate: &cand, From: "PA_forged"}); err != nil {
		t.Fatal(err)
	}
	if got := waitPeerEvents(t, sSecond, 2)[1]; got != (PeerSignal{From: first.ID(), Kind: "offer", SDP: "v=0 offer"}) {
		t.Errorf("relayed offer %+v", got)
	}
	got := waitPeerEvents(t, sFirst, 3)
	if got[1] != (PeerSignal{From: second.ID(), Kind: "answer", SDP: "v=0 answer"}) {
		t.Errorf("relayed answer %+v", got[1])
	}
	if c, ok := got[2].(PeerSignal); !ok || c.From != second.ID() || c.Candidate == nil || c.Candidate.Candidate != cand.Candidate {
		t.Errorf("relayed candidate %+v: want it from %s, whatever From the sender claimed", got[2], second.ID())
	}

	if err := first.ReportPeer(PeerConnected); err != nil {
		t.Fatal(err)
	}
	if err := second.ReportPeer(PeerConnected); err != nil {
		t.Fatal(err)
	}
	if got := waitPeerEvents(t, sFirst, 4)[3]; got != (PeerMode{Mode: "p2p", PeerID: second.ID(), Reason: ReasonDirect}) {
		t.Errorf("both connected: %+v, want mode p2p", got)
	}
	waitPeerEvents(t, sSecond, 3)

	c, sc := join("cid", true)
	want := PeerMode{Mode: "sfu", Reason: ReasonThirdJoined}
	if got := waitPeerEvents(t, sFirst, 5)[4]; got != want {
		t.Errorf("a third joined: %+v, want %+v", got, want)
	}
	if got := waitPeerEvents(t, sSecond, 4)[3]; got != want {
		t.Errorf("a third joined: %+v, want %+v", got, want)
	}
	if err := first.SignalPeer(PeerSignal{Kind: "offer", SDP: "v=0"}); !errors.Is(err, ErrNoPeer) {
		t.Errorf("an offer after the room went back to the SFU: %v, want ErrNoPeer", err)
	}
	if err := c.SignalPeer(PeerSignal{Kind: "offer", SDP: "v=0"}); !errors.Is(err, ErrNoPeer) {
		t.Errorf("an offer from the third: %v, want ErrNoPeer", err)
	}
	time.Sleep(50 * time.Millisecond)
	if evs := sc.peerEvents(); len(evs) != 0 {
		t.Errorf("the third got peer events %+v", evs)
	}
}

// TestRoomWithoutP2P: with p2p off on the server, or for a participant
// whose token or client does not allow it, a room of two stays on the SFU.
func TestRoomWithoutP2P(t *testing.T) {
	for _, tc := range []struct {
		name         string
		server, bobs bool
	}{{"server off", false, true}, {"bob not eligible", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.UDPPort, cfg.NodeIP = 0, "127.0.0.1"
			cfg.P2P.Enabled = tc.server
			s, err := New(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			var sinks []*recordingSink
			for _, who := range []Identity{{Identity: "ann", P2P: true}, {Identity: "bob", P2P: tc.bobs}} {
				sink := &recordingSink{}
				p, err := s.Join("call", who, sink)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(p.Close)
				sinks = append(sinks, sink)
			}
			time.Sleep(100 * time.Millisecond)
			for i, sink := range sinks {
				if evs := sink.peerEvents(); len(evs) != 0 {
					t.Errorf("participant %d got %+v", i, evs)
				}
			}
		})
	}
}
