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
	// ErrDraining is returned by Join once Drain was called: the node
	// takes no new participants.
	ErrDraining = errors.New("sfu: node is draining")
)
