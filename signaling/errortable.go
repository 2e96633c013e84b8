package signaling

import (
	"errors"

	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/sfu"
)

// clientErrors tells how each of the media core's sentinels reaches the
// client: the code of PROTOCOL.md's error table, the message (the error's
// own text unless one is given here) and whether the connection is then
// closed, with which close code. An error wrapping several sentinels is
// classified by the first in this order; sfu's own table (sfu.ErrorCode)
// keeps the same order, so an error relayed from another node classifies
// as the original did. Every sfu sentinel is listed
// (TestClientErrorsCoverEverySentinel); an error of none is internal.
var clientErrors = []struct {
	err     error
	code    string
	message string // replaces the error's text, which is not for clients
	close   int    // the close code that follows, 0 to go on
}{
	// The session cannot recover; the client reconnects and rejoins.
	{sfu.ErrRejoin, CodeBadSDP, "", websocket.CloseInternalServerErr},
	{sfu.ErrBadSDP, CodeBadSDP, "", 0},
	{sfu.ErrNoOffer, CodeBadSDP, "", 0},
	{sfu.ErrBadCandidate, CodeBadCandidate, "", 0},
	{sfu.ErrNotAllowed, CodeNotAllowed, "", 0},
	{sfu.ErrBadKind, CodeBadMessage, "", 0},
	{sfu.ErrBadLayer, CodeBadMessage, "", 0},
	{sfu.ErrUnknownTrack, CodeUnknownTrack, "", 0},
	{sfu.ErrClosed, CodeInternal, "the session has ended", 0},
	{sfu.ErrUnsupportedCodec, CodeInternal, internalMessage, 0},
	{sfu.ErrBadEvent, CodeInternal, internalMessage, 0},
	{sfu.ErrDraining, CodeUnavailable, unavailableMessage, CloseTryAgainLater},
	// Errors between nodes, which no client call returns.
	{sfu.ErrNoRoom, CodeInternal, internalMessage, 0},
	{sfu.ErrBadRelayMessage, CodeInternal, internalMessage, 0},
	// Track sources of a publisher offer.
	{sfu.ErrBadSource, CodeBadSource, "", 0},
	// Peer to peer for two.
	{sfu.ErrNoPeer, CodeNoPeer, "", 0},
}

// unavailableMessage is what a client is told when it should try again.
const unavailableMessage = "the service cannot take you in this room right now; try again"

// internalMessage is what the client is told of an error that is the
// server's own.
const internalMessage = "internal error"

// joinFailure is what the client is told when the Backend cannot join it:
// a join that may succeed later, or on another node, closes with 1013 so
// that the client tries again with back-off; any other failure is the
// server's own.
func joinFailure(err error) (code, message string, closeCode int) {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, sfu.ErrDraining) {
		return CodeUnavailable, unavailableMessage, CloseTryAgainLater
	}
	return CodeInternal, "could not join the room", 0
}

// classify is what the client is told of err, an error from a Session
// call: the error code, its message, and the close code that follows (0
// when the session goes on).
func classify(err error) (code, message string, closeCode int) {
	for _, e := range clientErrors {
		if errors.Is(err, e.err) {
			message = e.message
			if message == "" {
				message = err.Error()
			}
			return e.code, message, e.close
		}
	}
	return CodeInternal, internalMessage, 0
}
