// Package loadtest holds the synthetic WebRTC participant used by the
// integration tests and the load harness: a Go client that speaks the
// signaling protocol over WebSocket like the browser client does,
// publishes generated audio and video, and counts what it receives.
//
// It knows the server only through the wire protocol
// (signaling/PROTOCOL.md); it must not import the sfu or signaling packages.
package loadtest
