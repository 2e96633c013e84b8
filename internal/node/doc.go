// Package node assembles one SFU server from its configuration: the media
// core (sfu), the WebSocket signaling endpoint (signaling), the embedded
// web client, health, Prometheus metrics and the operator endpoints
// (/admin/, /debug/), all on one HTTP mux with its own listeners and
// metrics registry. It keeps nothing in package globals, so a test can run
// several nodes in one process.
//
// It knows nothing of the command line: cmd/sfu maps flags and the
// environment onto Config. Every node is a member of a cluster (package
// cluster), of one node with its state in memory unless a Redis URL names
// the shared state; the signaling server joins clients through the
// cluster's Backend.
package node
