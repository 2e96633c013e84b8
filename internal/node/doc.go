// Package node assembles one SFU server from its configuration: the media
// core (sfu), the WebSocket signaling endpoint (signaling), the embedded
// web client, health, Prometheus metrics and the operator endpoints
// (/admin/, /debug/), all on one HTTP mux with its own listeners and
// metrics registry. It keeps nothing in package globals, so a test can run
// several nodes in one process.
//
// It knows nothing of the command line: cmd/sfu maps flags and the
// environment onto Config. How nodes find each other (a cluster) plugs in
// as a signaling.Backend, through WithBackend.
package node
