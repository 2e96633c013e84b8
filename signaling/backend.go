package signaling

import (
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
)

// Backend is what signaling needs from the media core.
type Backend interface {
	// Join places who in room; the first event sent to sink is sfu.Joined.
	Join(room string, who sfu.Identity, sink sfu.EventSink) (Session, error)
}

// Session is one joined participant, as signaling drives it.
type Session interface {
	HandleOffer(sdp string) error
	HandleAnswer(sdp string) error
	AddCandidate(target sfu.Target, c webrtc.ICECandidateInit) error
	SetMuted(kind string, muted bool) error
	SetMaxLayer(trackID string, layer int) error
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
