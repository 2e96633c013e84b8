package sfu

// Peer to peer for two (signaling/PROTOCOL.md): the room's loop carries
// out what peerPolicy decides, and relays the pair's offers, answers and
// candidates between them. The SFU applies none of them: the peer
// connection runs between the two clients.

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// P2PConfig is the peer-to-peer setting of a node.
type P2PConfig struct {
	// Enabled lets rooms of two eligible participants go peer to peer.
	Enabled bool `yaml:"enabled"`
	// Delay is how long a room that was larger stays at two before it
	// goes peer to peer again.
	Delay time.Duration `yaml:"delay"`
	// Timeout is how long a peer connection has to connect on both
	// sides, and an ICE restart to bring it back, before the call stays on
	// (or moves to) the SFU.
	Timeout time.Duration `yaml:"timeout"`
}

// PeerStart asks the client to open a peer connection to PeerID.
type PeerStart struct {
	PeerID string
	Polite bool
}

// PeerMode tells the client the room's media path changed: Mode is "p2p"
// (PeerID is the other participant) or "sfu".
type PeerMode struct {
	Mode   string
	PeerID string
	Reason string
}

// PeerEnd asks the client to close its peer connection to PeerID now.
type PeerEnd struct {
	PeerID string
	Reason string
}

// PeerSignal is an offer, answer or candidate for the peer connection,
// from the client to the SFU and, with From set, from the SFU to the
// other client.
type PeerSignal struct {
	From      string
	Kind      string // "offer", "answer" or "candidate"
	SDP       string
	Candidate *webrtc.ICECandidateInit
}

func (PeerStart) isEvent()  {}
func (PeerMode) isEvent()   {}
func (PeerEnd) isEvent()    {}
func (PeerSignal) isEvent() {}

// SignalPeer relays s to the participant's peer. It returns ErrNoPeer
// when the participant has no peer connection under way.
func (p *Participant) SignalPeer(s PeerSignal) error {
	if p.room == nil {
		return ErrNoPeer
	}
	s.From = p.id
	to, ok := p.room.peerOf(p.id)
	if !ok {
		return ErrNoPeer
	}
	to.send(s)
	return nil
}

// ReportPeer records what the client says about its peer connection. It
// returns ErrNoPeer when the participant has no peer connection under way,
// except for the closed that a client of a call moved back to the SFU
// reports once it has closed it.
func (p *Participant) ReportPeer(st PeerState) error {
	r := p.room
	if r == nil {
		return ErrNoPeer
	}
	if _, ok := r.peerOf(p.id); !ok {
		if st == PeerClosed && r.closedAfterSFU(p.id) {
			return nil
		}
		return ErrNoPeer
	}
	r.post(func(now time.Time) { r.applyPeer(r.peers.Report(now, p.id, st)) })
	return nil
}

// peerOf is the member at the other end of id's peer connection, while
// one is under way.
func (r *Room) peerOf(id string) (roomMember, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var other string
	switch id {
	case "":
		return nil, false
	case r.pair[0]:
		other = r.pair[1]
	case r.pair[1]:
		other = r.pair[0]
	default:
		return nil, false
	}
	m, ok := r.members[other]
	if !ok {
		return nil, false
	}
	return m.p, true
}

// closedAfterSFU reports whether id is one of the pair whose call last
// went back to the SFU and has not said closed since, and takes it off.
func (r *Room) closedAfterSFU(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.ending {
		if m != "" && m == id {
			r.ending[i] = ""
			return true
		}
	}
	return false
}

// applyPeer tells the pair what peerPolicy decided. It runs on the room's
// loop.
func (r *Room) applyPeer(acts []peerAction) {
	for _, a := range acts {
		var toA, toB Event
		switch a.Kind {
		case actStart:
			toA, toB = PeerStart{PeerID: a.Polite}, PeerStart{PeerID: a.Impolite, Polite: true}
		case actToP2P:
			toA = PeerMode{Mode: ModeP2P.String(), PeerID: a.Polite, Reason: a.Reason}
			toB = PeerMode{Mode: ModeP2P.String(), PeerID: a.Impolite, Reason: a.Reason}
		case actToSFU:
			toA = PeerMode{Mode: ModeSFU.String(), Reason: a.Reason}
			toB = toA
		case actEnd:
			toA, toB = PeerEnd{PeerID: a.Polite, Reason: a.Reason}, PeerEnd{PeerID: a.Impolite, Reason: a.Reason}
		}
		r.countPeerStep(a)
		r.mu.Lock()
		switch a.Kind {
		case actStart:
			r.pair, r.ending = [2]string{a.Impolite, a.Polite}, [2]string{}
		case actToSFU:
			r.pair, r.ending = [2]string{}, [2]string{a.Impolite, a.Polite}
		case actEnd:
			r.pair = [2]string{}
		}
		var to [2]roomMember
		var tracks []*UpTrack
		for i, id := range []string{a.Impolite, a.Polite} {
			if m, ok := r.members[id]; ok {
				to[i] = m.p
				tracks = append(tracks, m.tracks...)
			}
		}
		r.mu.Unlock()
		for i, ev := range []Event{toA, toB} {
			if to[i] != nil {
				to[i].send(ev)
			}
		}
		switch a.Kind {
		case actToP2P:
			// Their subscribers keep the layers they get, silent
			// meanwhile, so that the call comes back at once.
			for _, t := range tracks {
				t.direct.Store(true)
			}
		case actToSFU:
			// They send to the SFU again: what they send first must be
			// decodable, and counts until it arrives.
			now := r.sfu.now().UnixNano()
			for _, t := range tracks {
				t.direct.Store(false)
				for i := range MaxLayers {
					if l := t.layer(i); l != nil {
						l.resumedAt.Store(now)
					}
					t.RequestKeyframe(i)
				}
			}
		}
	}
}

// countPeerStep counts a in the metrics.
func (r *Room) countPeerStep(a peerAction) {
	m := r.sfu.metrics
	step := "start"
	switch a.Kind {
	case actToP2P:
		step = "p2p"
		m.P2PRooms.Inc()
	case actToSFU:
		step = "sfu"
		m.P2PRooms.Dec()
	case actEnd:
		step = "end"
	}
	m.PeerSteps.WithLabelValues(step, a.Reason).Inc()
}

// peerEligible reports whether a member may take part in a peer
// connection: a client of this node whose server and token allow it.
func (r *Room) peerEligible(p roomMember) bool {
	c, ok := p.(*Participant)
	return ok && r.sfu.cfg.P2P.Enabled && c.who.P2P
}
