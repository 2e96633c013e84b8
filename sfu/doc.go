// Package sfu is the media core of the server: rooms, participants, and the
// forwarding of RTP from each publisher to every subscriber.
//
// It owns pion/webrtc. Each Participant has two PeerConnections: a publisher
// connection on which the client offers and sends its media, and a subscriber
// connection on which the server offers everybody else's media. Incoming
// tracks become UpTracks; each UpTrack fans its packets out to one DownTrack
// per subscriber, a webrtc.TrackLocal of our own that rewrites SSRC, payload
// type, sequence numbers and timestamps.
//
// The package must not know about WebSockets, JSON or Redis: signaling talks
// to it through Join and the EventSink interface, and everything a client
// must be told arrives as an Event value.
//
// Lock order, where more than one lock is held: Room.mu before
// Participant.mu. No lock of this package is held while calling into pion
// or another goroutine's channel that may block. An EventSink is called
// under Room.mu at times (so that Joined comes first): that is why
// EventSink.Send must not block.
package sfu
