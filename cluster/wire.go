package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
)

// The kinds of message nodes exchange about relayed sessions. A front
// door (the node holding a client's WebSocket) sends calls and close; the
// node serving the session answers each call with a result and sends the
// session's events, numbered so that a lost message is noticed.
const (
	kindCall   = "call"   // front door -> server: one Session call, or the join
	kindResult = "result" // server -> front door: a call's outcome
	kindEvent  = "event"  // server -> front door: an sfu.Event for the client
	kindClose  = "close"  // either way: the session is over
	kindRelay  = "relay"  // between two nodes serving a room: its media relay
)

// The calls of a relayed session: the join and the Session methods.
const (
	callJoin      = "join"
	callOffer     = "offer"
	callAnswer    = "answer"
	callCandidate = "candidate"
	callMute      = "mute"
	callLayer     = "layer"
	callPeer      = "peer"       // SignalPeer: PeerKind, and SDP or Candidate
	callPeerState = "peer_state" // ReportPeer: PeerState
	callRestart   = "restart"    // RestartICE: Target
)

// envelope is one message between nodes.
type envelope struct {
	Kind    string `json:"k"`
	From    string `json:"f"`
	Session string `json:"s,omitempty"`
	// Call numbers a call and its result, unique on the calling node.
	Call uint64 `json:"c,omitempty"`
	// Seq numbers a session's events from 1.
	Seq uint64 `json:"n,omitempty"`

	Method    string                   `json:"m,omitempty"`
	Room      string                   `json:"r,omitempty"`
	Who       *sfu.Identity            `json:"w,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Target    sfu.Target               `json:"tg,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"ice,omitempty"`
	MediaKind string                   `json:"mk,omitempty"`
	Muted     bool                     `json:"mu,omitempty"`
	TrackID   string                   `json:"tr,omitempty"`
	Layer     int                      `json:"l,omitempty"`
	PeerKind  string                   `json:"pk,omitempty"`
	PeerState sfu.PeerState            `json:"ps,omitempty"`
	// Sources are an offer's track sources by mid; a node that does not
	// know them gives its tracks the default sources.
	Sources sfu.Sources `json:"src,omitempty"`

	// Code and Message carry a failed call's error (sfu.ErrorCode); a
	// join refused because another node holds the room names it in
	// Redirect.
	Code     string `json:"code,omitempty"`
	Message  string `json:"msg,omitempty"`
	Redirect string `json:"to,omitempty"`

	Event json.RawMessage `json:"e,omitempty"`
	// Relay is an sfu.RelayMessage for the end of Room's relay.
	Relay json.RawMessage `json:"rl,omitempty"`
	// RelayFrom names the sending end of a relay; RelayTo the receiving
	// end, once known.
	RelayFrom string `json:"rf,omitempty"`
	RelayTo   string `json:"rt,omitempty"`
	// Span asks the node to serve a join although another node hosts
	// the room (the host is full): the room then spans both.
	Span bool `json:"span,omitempty"`
	// Full, in a join's result, says the node is at its limit.
	Full bool `json:"full,omitempty"`
}

func decodeEnvelope(data []byte) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return env, fmt.Errorf("cluster: bad message from the bus: %w", err)
	}
	switch env.Kind {
	case kindCall, kindResult, kindEvent, kindClose, kindRelay:
	default:
		return env, fmt.Errorf("cluster: message of unknown kind %q", env.Kind)
	}
	if env.From == "" {
		return env, fmt.Errorf("cluster: %s message names no sender", env.Kind)
	}
	return env, nil
}

// resultError is the error a result carries, nil when the call succeeded.
func resultError(env envelope) error {
	if env.Code == "" {
		return nil
	}
	return sfu.ErrorFromCode(env.Code, env.Message)
}

// failed fills in a result's error.
func (env *envelope) failed(err error) {
	if err != nil {
		env.Code, env.Message = sfu.ErrorCode(err), err.Error()
	}
}
