package sfu

import (
	"reflect"
	"testing"
	"time"
)

// TestPeerPolicy steps a room's media path through the cases of
// PROTOCOL.md, "Peer to peer for two".
func TestPeerPolicy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const delay, timeout = 10 * time.Second, 5 * time.Second
	start := func(a, b string) []peerAction {
		return []peerAction{{Kind: actStart, Impolite: a, Polite: b}}
	}
	act := func(k peerActionKind, a, b, reason string) []peerAction {
		return []peerAction{{Kind: k, Impolite: a, Polite: b, Reason: reason}}
	}
	type step struct {
		name string
		do   func(p *peerPolicy) []peerAction
		want []peerAction
		mode RoomMode
	}
	cases := map[string][]step{
		"two go direct at once, a third brings them back, two again after the delay": {
			{"ann joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "ann", true) }, nil, ModeSFU},
			{"bob joins", func(p *peerPolicy) []peerAction { return p.Joined(at(time.Second), "bob", true) }, start("ann", "bob"), ModeSFU},
			{"ann connected", func(p *peerPolicy) []peerAction { return p.Report(at(2*time.Second), "ann", PeerConnected) }, nil, ModeSFU},
			{"bob connected", func(p *peerPolicy) []peerAction { return p.Report(at(2*time.Second), "bob", PeerConnected) }, act(actToP2P, "ann", "bob", ReasonDirect), ModeP2P},
			{"no timeout once direct", func(p *peerPolicy) []peerAction { return p.Tick(at(time.Minute)) }, nil, ModeP2P},
			{"cid joins", func(p *peerPolicy) []peerAction { return p.Joined(at(time.Minute), "cid", true) }, act(actToSFU, "ann", "bob", ReasonThirdJoined), ModeSFU},
			{"cid leaves", func(p *peerPolicy) []peerAction { return p.Left(at(2*time.Minute), "cid") }, nil, ModeSFU},
			{"not before the delay", func(p *peerPolicy) []peerAction { return p.Tick(at(2*time.Minute + delay - time.Millisecond)) }, nil, ModeSFU},
			{"after the delay", func(p *peerPolicy) []peerAction { return p.Tick(at(2*time.Minute + delay)) }, start("ann", "bob"), ModeSFU},
		},
		"a peer connection that does not connect in time is given up for the pair": {
			{"ann joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "ann", true) }, nil, ModeSFU},
			{"bob joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "bob", true) }, start("ann", "bob"), ModeSFU},
			{"only ann connects", func(p *peerPolicy) []peerAction { return p.Report(at(time.Second), "ann", PeerConnected) }, nil, ModeSFU},
			{"before the timeout", func(p *peerPolicy) []peerAction { return p.Tick(at(timeout - time.Millisecond)) }, nil, ModeSFU},
			{"timeout", func(p *peerPolicy) []peerAction { return p.Tick(at(timeout)) }, act(actEnd, "ann", "bob", ReasonPeerTimeout), ModeSFU},
			{"not tried again", func(p *peerPolicy) []peerAction { return p.Tick(at(time.Hour)) }, nil, ModeSFU},
			{"bob rejoins as another session", func(p *peerPolicy) []peerAction { return p.Left(at(time.Hour), "bob") }, nil, ModeSFU},
			{"and the new pair is tried", func(p *peerPolicy) []peerAction { return p.Joined(at(time.Hour), "bob2", true) }, start("ann", "bob2"), ModeSFU},
		},
		"a direct path that fails moves the call to the SFU": {
			{"ann joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "ann", true) }, nil, ModeSFU},
			{"bob joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "bob", true) }, start("ann", "bob"), ModeSFU},
			{"ann connected", func(p *peerPolicy) []peerAction { return p.Report(at(time.Second), "ann", PeerConnected) }, nil, ModeSFU},
			{"bob connected", func(p *peerPolicy) []peerAction { return p.Report(at(time.Second), "bob", PeerConnected) }, act(actToP2P, "ann", "bob", ReasonDirect), ModeP2P},
			{"bob's fails", func(p *peerPolicy) []peerAction { return p.Report(at(time.Minute), "bob", PeerFailed) }, act(actToSFU, "ann", "bob", ReasonPeerFailed), ModeSFU},
			{"later reports are ignored", func(p *peerPolicy) []peerAction { return p.Report(at(time.Minute), "ann", PeerConnected) }, nil, ModeSFU},
			{"never again for them", func(p *peerPolicy) []peerAction { return p.Tick(at(time.Hour)) }, nil, ModeSFU},
		},
		"the peer leaving ends the direct call": {
			{"ann joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "ann", true) }, nil, ModeSFU},
			{"bob joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "bob", true) }, start("ann", "bob"), ModeSFU},
			{"ann connected", func(p *peerPolicy) []peerAction { return p.Report(at(0), "ann", PeerConnected) }, nil, ModeSFU},
			{"bob connected", func(p *peerPolicy) []peerAction { return p.Report(at(0), "bob", PeerConnected) }, act(actToP2P, "ann", "bob", ReasonDirect), ModeP2P},
			{"ann leaves", func(p *peerPolicy) []peerAction { return p.Left(at(time.Minute), "ann") }, act(actToSFU, "ann", "bob", ReasonPeerLeft), ModeSFU},
			{"cid joins: at once, the room was never larger", func(p *peerPolicy) []peerAction { return p.Joined(at(time.Minute), "cid", true) }, start("bob", "cid"), ModeSFU},
		},
		"a participant that may not go direct keeps the room on the SFU": {
			{"ann joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "ann", true) }, nil, ModeSFU},
			{"bob joins without p2p", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "bob", false) }, nil, ModeSFU},
			{"nothing later", func(p *peerPolicy) []peerAction { return p.Tick(at(time.Hour)) }, nil, ModeSFU},
			{"reports without a peer connection are ignored", func(p *peerPolicy) []peerAction { return p.Report(at(time.Hour), "ann", PeerConnected) }, nil, ModeSFU},
		},
		"a third joining while the pair connects ends the attempt": {
			{"ann joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "ann", true) }, nil, ModeSFU},
			{"bob joins", func(p *peerPolicy) []peerAction { return p.Joined(at(0), "bob", true) }, start("ann", "bob"), ModeSFU},
			{"cid joins", func(p *peerPolicy) []peerAction { return p.Joined(at(time.Second), "cid", true) }, act(actEnd, "ann", "bob", ReasonThirdJoined), ModeSFU},
			{"a late connected report changes nothing", func(p *peerPolicy) []peerAction { return p.Report(at(time.Second), "bob", PeerConnected) }, nil, ModeSFU},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			p := newPeerPolicy(delay, timeout)
			for _, s := range steps {
				if got := s.do(p); !reflect.DeepEqual(got, s.want) {
					t.Fatalf("%s: actions %+v, want %+v", s.name, got, s.want)
				}
				if p.Mode() != s.mode {
					t.Fatalf("%s: mode %v, want %v", s.name, p.Mode(), s.mode)
				}
			}
		})
	}
}

// TestPeerPolicyNext: the room's loop learns when the policy next has
// something to decide, so that it needs no ticker.
func TestPeerPolicyNext(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newPeerPolicy(10*time.Second, 5*time.Second)
	if _, ok := p.Next(); ok {
		t.Fatal("an empty room has a deadline")
	}
	p.Joined(t0, "ann", true)
	p.Joined(t0, "bob", true)
	if next, ok := p.Next(); !ok || !next.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("while connecting: Next = %v %v, want the timeout", next, ok)
	}
	p.Joined(t0, "cid", true)
	if _, ok := p.Next(); ok {
		t.Fatal("a room of three has a deadline")
	}
	p.Left(t0.Add(time.Minute), "cid")
	if next, ok := p.Next(); !ok || !next.Equal(t0.Add(time.Minute+10*time.Second)) {
		t.Fatalf("back at two: Next = %v %v, want the delay", next, ok)
	}
}
