// Package signaling is the WebSocket endpoint through which clients join
// rooms and negotiate their two PeerConnections, and the access tokens
// that admit them. The wire protocol is specified in PROTOCOL.md next to
// this file.
//
// Each connection has one reader goroutine (the HTTP handler's) and one
// writer goroutine. The Server bounds what it holds: connections in all and
// per client address (refused before the upgrade), and the time a
// connection may take to join. The package talks to the media core through the small
// Backend and Session interfaces and must not know about Redis, clusters
// or RTP.
package signaling
