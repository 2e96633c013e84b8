package sfu

import "errors"

var (
	// ErrClosed is returned by operations on a closed SFU or participant.
	ErrClosed = errors.New("sfu: closed")
	// ErrBadSDP is returned when a session description cannot be parsed or applied.
	ErrBadSDP = errors.New("sfu: bad session description")
	// ErrRejoin is returned when a refused description left a connection
	// that cannot be renegotiated any more: the client must join again.
	ErrRejoin = errors.New("sfu: connection unusable after a refused description; join again")
	// ErrBadCandidate is returned when an ICE candidate cannot be applied.
	ErrBadCandidate = errors.New("sfu: bad ICE candidate")
	// ErrNotAllowed is returned when the participant's grants forbid an action.
	ErrNotAllowed = errors.New("sfu: not allowed")
	// ErrNoOffer is returned when an answer arrives with no offer outstanding.
	ErrNoOffer = errors.New("sfu: no offer outstanding")
	// ErrBadKind is returned for a track kind other than audio or video.
	ErrBadKind = errors.New("sfu: track kind must be audio or video")
	// ErrBadLayer is returned for a simulcast layer out of range.
	ErrBadLayer = errors.New("sfu: no such simulcast layer")
	// ErrUnknownTrack is returned for a track the participant does not receive.
	ErrUnknownTrack = errors.New("sfu: unknown track")
	// ErrUnsupportedCodec is returned when a subscriber cannot receive a track's codec.
	ErrUnsupportedCodec = errors.New("sfu: codec not supported by subscriber")
	// ErrBadEvent is returned by UnmarshalEvent for data that is not an
	// encoded event, and by MarshalEvent for a value it cannot encode.
	ErrBadEvent = errors.New("sfu: bad event encoding")
	// ErrDraining is returned by Join once Drain was called: the node
	// takes no new participants.
	ErrDraining = errors.New("sfu: node is draining")
	// ErrNoRoom is returned by OpenRelay for a room that has no client on
	// this node: there is nobody here to relay for.
	ErrNoRoom = errors.New("sfu: room not served on this node")
	// ErrNoPeer is returned for a peer connection message from a
	// participant that has no peer connection under way.
	ErrNoPeer = errors.New("sfu: no peer connection under way")
	// ErrBadSource is returned for a publisher offer's track source that
	// is unknown, names no media section of the offer or one of another
	// kind, or would make more screen tracks than a participant may send.
	ErrBadSource = errors.New("sfu: bad track source")
	// ErrBadRelayMessage is returned for a relay message that is not
	// well formed, of an unknown kind, or that cannot be applied.
	ErrBadRelayMessage = errors.New("sfu: bad relay message")
)

// Refusals of Room.join, which never leave the package.
var (
	// errRoomGone: the room was removed; the joiner fetches a new one.
	errRoomGone = errors.New("sfu: room removed")
	// errMemberExists: another member has the joiner's ID.
	errMemberExists = errors.New("sfu: a member with this ID is already in the room")
)

// CodeInternal is ErrorCode's name for an error that wraps none of the
// sentinels above.
const CodeInternal = "internal"

// errorCodes names every sentinel of this file, so that an error crosses
// from one node to another as a code and its message (ErrorCode,
// ErrorFromCode). The names travel between nodes that may run different
// versions: never rename one. When an error wraps several sentinels the
// first in this order wins; it is the precedence signaling classifies
// errors by (ErrRejoin, which closes the client's connection, before
// ErrBadSDP).
var errorCodes = []struct {
	code string
	err  error
}{
	{"rejoin", ErrRejoin},
	{"bad_sdp", ErrBadSDP},
	{"no_offer", ErrNoOffer},
	{"bad_candidate", ErrBadCandidate},
	{"not_allowed", ErrNotAllowed},
	{"bad_kind", ErrBadKind},
	{"bad_layer", ErrBadLayer},
	{"unknown_track", ErrUnknownTrack},
	{"closed", ErrClosed},
	{"unsupported_codec", ErrUnsupportedCodec},
	{"bad_event", ErrBadEvent},
	{"draining", ErrDraining},
	{"no_room", ErrNoRoom},
	{"bad_relay_message", ErrBadRelayMessage},
	{"bad_source", ErrBadSource},
	{"no_peer", ErrNoPeer},
}

// ErrorCodes lists the names ErrorCode gives the sentinels, first the
// one that wins when an error wraps several.
func ErrorCodes() []string {
	codes := make([]string, len(errorCodes))
	for i, e := range errorCodes {
		codes[i] = e.code
	}
	return codes
}

// ErrorCode is the stable name of the sentinel err wraps: "" for nil,
// CodeInternal for an error that wraps none of this package's sentinels.
// With ErrorFromCode it carries an error to another node.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return CodeInternal
}

// ErrorFromCode rebuilds an error that ErrorCode named code: it matches
// the sentinel named by code (errors.Is), and its Error() is message, so
// it is classified and worded as the original was. It returns nil for
// code "". An unknown code (CodeInternal, or one a newer node knows)
// gives an error that matches no sentinel. An empty message is replaced
// by the sentinel's own.
func ErrorFromCode(code, message string) error {
	if code == "" {
		return nil
	}
	var sentinel error
	for _, e := range errorCodes {
		if e.code == code {
			sentinel = e.err
			break
		}
	}
	if message == "" {
		if sentinel == nil {
			return errors.New("sfu: internal error")
		}
		return sentinel
	}
	return &codedError{sentinel: sentinel, message: message}
}

// codedError is an error rebuilt from its code and message.
type codedError struct {
	sentinel error // nil for an unknown code
	message  string
}

func (e *codedError) Error() string { return e.message }

func (e *codedError) Unwrap() error { return e.sentinel }
