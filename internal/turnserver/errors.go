package turnserver

import "errors"

var (
	// ErrBadUsername is returned for a username not of the form
	// "<expiry unix seconds>:<identity>".
	ErrBadUsername = errors.New("turnserver: username is not <expiry>:<identity>")
	// ErrTCPRelay is returned for a TCP allocation (RFC 6062), which this
	// server does not offer: WebRTC relays UDP, and TCP relaying would let
	// clients open connections to any service a peer address names.
	ErrTCPRelay = errors.New("turnserver: TCP relay allocations are not offered")
	// ErrFamily is returned for an allocation in an address family other
	// than the public address's.
	ErrFamily = errors.New("turnserver: relays are offered in the public address's family only")
	// ErrQuota is returned for an allocation over the user's quota.
	ErrQuota = errors.New("turnserver: allocation quota reached")
	// ErrNoRelayPort is returned when no port of the relay range is free.
	ErrNoRelayPort = errors.New("turnserver: no free relay port")
	// ErrForbiddenPeer is returned by a relay socket for a datagram to an
	// address the peer policy refuses.
	ErrForbiddenPeer = errors.New("turnserver: relaying to this address is not allowed")
	// ErrClosed is returned by Accept once the server is closing.
	ErrClosed = errors.New("turnserver: server closed")
)
