package signaling

import (
	"errors"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
)

// ErrUnavailable is wrapped by a Backend's Join error when the join may
// succeed if tried again later or through another node: shared state
// unreachable, no node with capacity, a node draining. The client is told
// to try again.
var ErrUnavailable = errors.New("signaling: the room cannot be joined right now")

// Backend is what signaling needs from the media core.
type Backend interface {
	// Join places who in room; the first event sent to sink is sfu.Joined.
	Join(room string, who sfu.Identity, sink sfu.EventSink) (Session, error)
}

// Session is one joined participant, as signaling drives it.
type Session interface {
	// HandleOffer applies a publisher offer; sources names the source
	// of its tracks by mid (nil: none named).
	HandleOffer(sdp string, sources sfu.Sources) error
	HandleAnswer(sdp string) error
	AddCandidate(target sfu.Target, c webrtc.ICECandidateInit) error
	SetMuted(kind string, muted bool) error
	SetMaxLayer(trackID string, layer int) error
	// SignalPeer relays an offer, answer or candidate to the other end of
	// the participant's peer connection; ReportPeer records its state.
	// Both return sfu.ErrNoPeer when none is under way.
	SignalPeer(s sfu.PeerSignal) error
	ReportPeer(st sfu.PeerState) error
	// RestartICE asks for an ICE restart of the subscriber connection
	// (PROTOCOL.md, "ICE restarts").
	RestartICE(target sfu.Target) error
	Close()
}

// LocalBackend adapts an *sfu.SFU on this node to Backend.
type LocalBackend struct{ SFU *sfu.SFU }

// Join implements Backend.
func (b LocalBackend) Join(room string, who sfu.Identity, sink sfu.EventSink) (Session, error) {
	p, err := b.SFU.Join(room, who, sink)
	if err != nil {
		return nil, err
	}
	return p, nil
}
