// Package turnserver is the STUN/TURN server embedded in the SFU binary
// (RFC 8489, RFC 8656), built on pion/turn. It listens on UDP, TCP and
// TLS, relays UDP for clients that authenticate with TURN REST API
// credentials (username "<expiry>:<identity>", password
// base64(HMAC-SHA1(secret, username))), which any node sharing the secret
// checks without state, and hands out such credentials (Issuer) for itself
// and for external servers such as coturn.
//
// A TURN server relays to wherever its clients ask, so it is an open door
// into the network it stands in unless it says no. This one refuses to
// relay to loopback, private, link-local, multicast and unspecified
// addresses and to its host's own service ports, except to the peers it
// is told to allow (the SFU's media address, configured networks); it
// caps allocations and bandwidth per user and TCP connections per
// address, bounds idle connections, and logs every kind of refusal once
// at debug level.
//
// It knows nothing of rooms, signaling or the media core: the node gives
// it its addresses, and signaling asks the Issuer for a participant's ICE
// servers.
package turnserver
