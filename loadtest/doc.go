// Package loadtest holds the synthetic WebRTC participant used by the
// integration tests and the load harness: a Go client that speaks the
// signaling protocol over WebSocket like the browser client does,
// publishes generated frames or the real VP8 simulcast and Opus sample
// clip (testdata/media, made by testdata/gen-media.sh), and counts what
// it receives as a decoder would play it out.
//
// Run drives many of them (cmd/loadtest is its command line) and builds a
// RunReport: join and first-media times, tracks, bitrate, loss after
// repair, jitter, freezes, end-to-end latency, the server's and the
// harness's own CPU and memory, and, for participants whose connection
// ended (they rejoin as the web client does, reconnect.go), the rejoin
// times and the media gaps their subscribers saw (gaps.go), and, for the
// participants that kept their connection, the longest pause each saw in
// each publisher's media (continuity.go). netlab.go builds the network
// namespaces the constrained-link tests shape with tbf and nftables.
// With Options.P2P a client takes part in peer to peer for two
// (peer.go).
//
// It knows the server only through the wire protocol
// (signaling/PROTOCOL.md) and its /metrics; its non-test code must not
// import the sfu or signaling packages.
package loadtest
