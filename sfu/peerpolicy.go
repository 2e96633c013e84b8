package sfu

// The media path of a room: through the SFU, or, for two participants,
// directly between them (signaling/PROTOCOL.md, "Peer to peer for two").
// peerPolicy decides when to switch; it is pure logic with the time passed
// in, so that the room's event loop carries it out and tests step it
// without a network.

import "time"

// RoomMode is a room's media path.
type RoomMode int

const (
	// ModeSFU: media goes through the SFU; the mode of every room of three
	// or more.
	ModeSFU RoomMode = iota
	// ModeP2P: the two participants' media goes over their peer
	// connection, and the SFU forwards nothing in the room.
	ModeP2P
)

// String is the mode's name on the wire.
func (m RoomMode) String() string {
	if m == ModeP2P {
		return "p2p"
	}
	return "sfu"
}

// peerActionKind is what the room is to do.
type peerActionKind int

const (
	// actStart: tell both to open a peer connection to the other;
	// Impolite is the one with the smaller participant ID.
	actStart peerActionKind = iota
	// actToP2P: tell both the call is direct (mode p2p).
	actToP2P
	// actToSFU: tell both the call goes through the SFU again (mode
	// sfu); they close the peer connection once the SFU's media plays.
	actToSFU
	// actEnd: tell both (those still in the room) to close the peer
	// connection now; the call never went direct.
	actEnd
)

// Reasons given with mode and peer_end.
const (
	ReasonDirect      = "direct"
	ReasonThirdJoined = "third_joined"
	ReasonPeerFailed  = "peer_failed"
	ReasonPeerTimeout = "peer_timeout"
	ReasonPeerLeft    = "peer_left"
)

// peerAction is one step for the room to carry out.
type peerAction struct {
	Kind peerActionKind
	// Impolite makes the first offer and wins crossed offers; Polite
	// gives way. For actToSFU and actEnd after a departure, the one who
	// left is among them and is not told.
	Impolite, Polite string
	Reason           string
}

// PeerState is what a participant reports about its peer connection.
type PeerState int

const (
	PeerConnecting PeerState = iota
	// PeerConnected: ICE and DTLS connected and the peer's media decoded.
	PeerConnected
	PeerFailed
	PeerClosed
)

// peerPhase is where the room's pair is.
type peerPhase int

const (
	phaseNone     peerPhase = iota // mode sfu, no peer connection asked for
	phaseStarting                  // peer_start sent, waiting for both to connect
	phaseDirect                    // mode p2p
)

// peerPolicy decides a room's media path from who is in it, what they
// report about their peer connection, and the time.
type peerPolicy struct {
	delay   time.Duration // back to p2p after the room stayed at two this long
	timeout time.Duration // a peer connection must connect within this

	members  []peerMember // in join order
	larger   bool         // the room once held more than two
	twoSince time.Time    // when it last became two, after being larger
	phase    peerPhase
	pair     [2]string // impolite, polite
	started  time.Time
	up       [2]bool            // each reported connected
	refused  map[[2]string]bool // pairs whose direct path failed
}

type peerMember struct {
	id       string
	eligible bool // the server, its token and its client allow p2p
}

func newPeerPolicy(delay, timeout time.Duration) *peerPolicy {
	return &peerPolicy{delay: delay, timeout: timeout, refused: make(map[[2]string]bool)}
}

// Mode is the room's media path.
func (p *peerPolicy) Mode() RoomMode {
	if p.phase == phaseDirect {
		return ModeP2P
	}
	return ModeSFU
}

// Joined records that participant id joined at now.
func (p *peerPolicy) Joined(now time.Time, id string, eligible bool) []peerAction {
	p.members = append(p.members, peerMember{id: id, eligible: eligible})
	if len(p.members) > 2 {
		p.larger = true
		return p.stop(ReasonThirdJoined)
	}
	return p.Tick(now)
}

// Left records that participant id left at now.
func (p *peerPolicy) Left(now time.Time, id string) []peerAction {
	i := p.index(id)
	if i < 0 {
		return nil
	}
	p.members = append(p.members[:i], p.members[i+1:]...)
	for pair := range p.refused {
		if pair[0] == id || pair[1] == id {
			delete(p.refused, pair) // IDs are not reused: it cannot recur
		}
	}
	var acts []peerAction
	if p.phase != phaseNone && (p.pair[0] == id || p.pair[1] == id) {
		acts = p.stop(ReasonPeerLeft)
	}
	if len(p.members) == 2 {
		p.twoSince = now
	}
	return append(acts, p.Tick(now)...)
}

// Report records what participant id says about its peer connection.
func (p *peerPolicy) Report(now time.Time, id string, st PeerState) []peerAction {
	side := -1
	if p.phase != phaseNone {
		for i, m := range p.pair {
			if m == id {
				side = i
			}
		}
	}
	if side < 0 {
		return nil
	}
	switch st {
	case PeerConnected:
		p.up[side] = true
		if p.phase == phaseStarting && p.up[0] && p.up[1] {
			p.phase = phaseDirect
			return []peerAction{{Kind: actToP2P, Impolite: p.pair[0], Polite: p.pair[1], Reason: ReasonDirect}}
		}
	case PeerFailed, PeerClosed:
		p.refused[p.pair] = true
		return p.stop(ReasonPeerFailed)
	}
	return nil
}

// Tick acts on the time: a peer connection that did not connect in time
// is given up, and a room at two long enough goes direct.
func (p *peerPolicy) Tick(now time.Time) []peerAction {
	switch {
	case p.phase == phaseStarting && now.Sub(p.started) >= p.timeout:
		p.refused[p.pair] = true
		return p.stop(ReasonPeerTimeout)
	case p.phase == phaseNone && len(p.members) == 2:
		a, b := p.members[0], p.members[1]
		if b.id < a.id {
			// By ID rather than by join order, so that every node serving
			// the room makes the same pair.
			a, b = b, a
		}
		pair := [2]string{a.id, b.id}
		if !a.eligible || !b.eligible || p.refused[pair] || (p.larger && now.Sub(p.twoSince) < p.delay) {
			return nil
		}
		p.phase, p.pair, p.started, p.up = phaseStarting, pair, now, [2]bool{}
		return []peerAction{{Kind: actStart, Impolite: a.id, Polite: b.id}}
	}
	return nil
}

// Next is when Tick has something to decide, if anything.
func (p *peerPolicy) Next() (time.Time, bool) {
	switch {
	case p.phase == phaseStarting:
		return p.started.Add(p.timeout), true
	case p.phase == phaseNone && len(p.members) == 2 && p.larger:
		a, b := p.members[0], p.members[1]
		if b.id < a.id {
			a, b = b, a
		}
		if a.eligible && b.eligible && !p.refused[[2]string{a.id, b.id}] {
			return p.twoSince.Add(p.delay), true
		}
	}
	return time.Time{}, false
}

// stop ends the pair's peer connection, if any, for reason: back to the
// SFU when the call was direct, given up when it was still starting.
func (p *peerPolicy) stop(reason string) []peerAction {
	kind := actEnd
	switch p.phase {
	case phaseNone:
		return nil
	case phaseDirect:
		kind = actToSFU
	}
	p.phase = phaseNone
	return []peerAction{{Kind: kind, Impolite: p.pair[0], Polite: p.pair[1], Reason: reason}}
}

func (p *peerPolicy) index(id string) int {
	for i, m := range p.members {
		if m.id == id {
			return i
		}
	}
	return -1
}
