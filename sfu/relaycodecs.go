package sfu

import (
	"fmt"
	"strings"
)

// Codecs across a relay. A client of this node that cannot decode a
// codec (roomcodecs.go) may be the only one in the room who cannot, and
// the publisher sending that codec may be a client of another node: only
// that node can ask it to switch. So each relay tells its peer what the
// clients it exports cannot decode (the codecs in RelayParticipantJoined,
// then RelayUndecodable for each one learnt later), and the peer marks
// them on the participants it imported, which are members of its room
// like any other: its room then asks its own publishers, and counts them
// when it picks the codec everybody decodes. The marks live on the
// imported member, so they go when it leaves or when the relay ends;
// with nodes in full mesh every node hears every client's marks once.
//
// The relay carries them, not the cluster's bus or Redis, because the
// relay already carries who is in the room on each node, in order: a
// mark always follows the participant it is about and goes with it.

// undecodable tells the relay that by, a client of this node, cannot
// decode codec (a lower-case MIME type). The room calls it with no lock
// held.
func (m *relayMember) undecodable(by, codec string) {
	m.r.ops.post(func() { m.r.exportUndecodable(by, codec) })
}

// exportUndecodable tells the peer that participant pid cannot decode
// codec. A participant not told to the peer yet is told with its marks;
// a peer of version 1 does not know the message, and one whose version
// is not known yet gets it once it is. It runs on run's goroutine.
func (r *Relay) exportUndecodable(pid, codec string) {
	if !r.exported[pid] {
		return
	}
	m := RelayMessage{Kind: RelayUndecodable, ParticipantID: pid, Codecs: []string{codec}}
	switch {
	case r.peerV >= 2:
		r.send(m)
	case r.peerV == 0:
		r.noDecodeHeld = append(r.noDecodeHeld, m)
	}
}

// releaseUndecodable sends the held marks once the peer's version is
// known, if it knows them, of the participants still exported. It runs
// on run's goroutine.
func (r *Relay) releaseUndecodable() {
	held := r.noDecodeHeld
	r.noDecodeHeld = nil
	if r.peerV < 2 {
		return
	}
	for _, m := range held {
		if r.exported[m.ParticipantID] {
			r.send(m)
		}
	}
}

// importUndecodable marks codecs that participant pid of the peer cannot
// decode. It runs on run's goroutine.
func (r *Relay) importUndecodable(pid string, codecs []string) error {
	p := r.imported[pid]
	if p == nil {
		return fmt.Errorf("%w: codecs of unknown participant %q", ErrBadRelayMessage, pid)
	}
	r.markUndecodable(p, codecs)
	return nil
}

// markUndecodable has the room record that p cannot decode codecs.
func (r *Relay) markUndecodable(p *importedParticipant, codecs []string) {
	for _, c := range codecs {
		r.room.undecodable(p, strings.ToLower(c))
	}
}
