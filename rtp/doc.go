// Package rtp holds the SFU's per-packet building blocks: sequence number
// unwrapping, the retransmission packet cache, sequence and timestamp
// rewriting for forwarded streams, keyframe detection, keyframe request
// throttling, RFC 3550 receive statistics and small header parsers.
//
// Everything here runs once per packet, so the hot-path functions do not
// allocate, log or format, and the package starts no goroutines. Time is
// always passed in by the caller, never read from the wall clock.
//
// The package is a leaf: it imports only the standard library and pion's
// rtp and rtcp packages. It must not know about PeerConnections, rooms or
// signaling; those belong to the packages that use it.
package rtp
