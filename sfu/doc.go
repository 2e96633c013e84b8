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
// Each Participant fits what its subscriber connection is sent to that
// connection's bandwidth estimate through its bandwidthControl
// (bandwidthcontrol.go): the Allocator's layer choices and the Prober's
// padding probes, driven by the participant's event loop, with time
// passed in and its tickers injected.
//
// The package must not know about WebSockets, JSON or Redis: signaling talks
// to it through Join and the EventSink interface, and everything a client
// must be told arrives as an Event value.
//
// A Room holds its members through a small interface (roomMember in
// roommember.go), which Participant implements, so that something that is
// not a client can join a room to receive and publish tracks. A Relay
// (relay.go) is such a thing: this node's end of the relay of one room
// with another node, which sends the tracks of this node's clients to
// the other node and brings the other node's participants and tracks into
// the local room, through node-to-node PeerConnections and RelayMessage
// values that the caller carries between the nodes.
//
// Application data (data.go) goes on data channels the client opens on
// its publisher connection: the SFU stamps the sender and writes each
// message to the recipients' channels from the goroutine that read it,
// through a copy-on-write roster of the room (dataroster.go), with no
// lock held; between nodes it goes on data channels of the relay's
// connections (datarelay.go). The data limiter, error throttle and lossy
// pacer locks (datalimits.go, datacharge.go) are leaves.
//
// Lock order, where more than one lock is held: SFU.mu before Room.mu,
// and either before the room hooks' queue lock (roomHooks.mu) and a
// relay's operation queue lock (opQueue.mu), which are leaves;
// DownTrack.rtxMu before DownTrack.mu. Room.mu is held while a member is
// sent an event (EventSink.Send must not block), so that a joiner hears
// Joined first. No other lock of this package is held while calling an
// EventSink, a room hook (Options.RoomOpened, RoomClosed), a relay's out
// function or another goroutine's channel that may block, nor while
// calling into pion, with three exceptions: DownTrack.rtxMu and padMu are held while pion writes
// a retransmission or padding packet (serializing the reused header), and
// webrtcAPI.subMu while pion creates a subscriber connection.
package sfu
