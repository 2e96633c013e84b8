package loadtest

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrServer is wrapped by errors the server reported in an error message.
var ErrServer = errors.New("loadtest: server error")

// ErrNoP2P is returned by the peer methods of a client without
// Options.P2P, or with no peer connection open.
var ErrNoP2P = errors.New("loadtest: no peer connection")

// ErrPoliteOffer is returned by RenegotiatePeer on the polite side of a
// peer connection: it makes no offers, since pion cannot roll an offer
// back when it crosses the other side's (pion/webrtc#2133).
var ErrPoliteOffer = errors.New("loadtest: the polite side of a peer connection makes no offers")

// ServerError is an error message the server answered a join with. It
// wraps ErrServer.
type ServerError struct {
	Code    string // the stable code (signaling/PROTOCOL.md, "Errors")
	Message string
}

func (e *ServerError) Error() string { return fmt.Sprintf("%v: %s: %s", ErrServer, e.Code, e.Message) }

// Unwrap returns ErrServer.
func (e *ServerError) Unwrap() error { return ErrServer }

// fatalCodes are the join errors after which the server closes with 4401
// or 4400: trying again with the same token and room cannot succeed.
var fatalCodes = map[string]bool{
	"invalid_token": true, "token_expired": true, "token_not_yet_valid": true,
	"token_lifetime_too_long": true, "token_revoked": true, "room_mismatch": true, "bad_room": true,
}

// Fatal reports whether the refusal is for good: a bad token or room.
func (e *ServerError) Fatal() bool { return fatalCodes[e.Code] }

// UpgradeError is a WebSocket upgrade the server answered with an HTTP
// status instead: 503 when it holds all the connections it takes or is
// shutting down, 429 when this address holds too many.
type UpgradeError struct {
	Status int
	Err    error // the dialer's error
}

func (e *UpgradeError) Error() string {
	return fmt.Sprintf("loadtest: dial: %d %s: %v", e.Status, http.StatusText(e.Status), e.Err)
}

func (e *UpgradeError) Unwrap() error { return e.Err }
