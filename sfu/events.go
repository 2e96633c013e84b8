package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// EventSink receives what a participant's client must be told, in order.
// Send must not block: the SFU calls it from its own goroutines, sometimes
// while holding a room lock. An implementation that cannot keep up should
// drop the client rather than wait.
type EventSink interface {
	Send(ev Event)
}

// Event is one notification for a client. The concrete types are listed below.
type Event interface {
	isEvent()
}

// ParticipantInfo describes a participant to the others.
type ParticipantInfo struct {
	ID       string
	Identity string
	Name     string
	Tracks   []TrackInfo
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID     string
	Kind   string // "audio" or "video"
	Source string // a TrackSource: "camera", "microphone", "screen" or "screen_audio"
	Muted  bool
}

// Joined is the first event of every session: who the participant is and
// who else is already in the room.
type Joined struct {
	Room   string
	Self   ParticipantInfo
	Others []ParticipantInfo
	// Data are the limits on the participant's application data; nil
	// without the data grant.
	Data *DataLimits
}

// SubscriberOffer carries an offer for the subscriber PeerConnection.
type SubscriberOffer struct{ SDP string }

// Candidate carries a server ICE candidate for one of the two connections.
type Candidate struct {
	Target    Target
	Candidate webrtc.ICECandidateInit
}

// ParticipantJoined tells that someone joined the room.
type ParticipantJoined struct{ Participant ParticipantInfo }

// ParticipantLeft tells that someone left or dropped.
type ParticipantLeft struct{ ParticipantID string }

// TrackPublished tells that a participant published a track.
type TrackPublished struct {
	ParticipantID string
	Track         TrackInfo
}

// TrackUnpublished tells that a track is gone.
type TrackUnpublished struct {
	ParticipantID string
	TrackID       string
}

// TrackUndecodable tells a subscriber that a track of ParticipantID is
// not sent to it: it cannot decode Codec (a MIME type), as its answer
// showed.
type TrackUndecodable struct {
	ParticipantID string
	TrackID       string
	Kind          string
	Codec         string
}

// CodecChange asks a publisher to send its track TrackID in Codec (a
// MIME type) from now on, instead of From: somebody in the room cannot
// decode From (roomcodecs.go).
type CodecChange struct {
	TrackID string
	Kind    string
	Codec   string
	From    string
}

// TrackMuted tells that a track was muted or unmuted.
type TrackMuted struct {
	ParticipantID string
	Track         TrackInfo
}

// ActiveSpeakers tells who is speaking, from the audio levels publishers
// send (RFC 6464). It is sent to everybody in the room when the set of
// speakers or the active speaker changes, at most every 300 ms.
type ActiveSpeakers struct {
	// Speakers are the IDs of the participants speaking, loudest first;
	// empty when nobody speaks.
	Speakers []string
	// Active is the participant who has the floor: the loudest speaker,
	// replaced only when another stays louder for a while. "" when nobody
	// speaks.
	Active string
}

// Bye tells that the server ends the session; the reason is one of
// "shutdown" or "replaced" (the same identity joined again).
type Bye struct{ Reason string }

// Move tells the client that the node serving it is going away: it
// should open a new session through the same URL (a load balancer sends
// it to a live node, where the room goes on), and leave this one once the
// new one receives media, so that its media never pauses. Sessions still
// on the node when TimeLeft has passed are ended (Bye "shutdown").
type Move struct {
	// TimeLeft is how long the node keeps the session; zero when it
	// does not know.
	TimeLeft time.Duration
}

func (Joined) isEvent()            {}
func (SubscriberOffer) isEvent()   {}
func (Candidate) isEvent()         {}
func (ParticipantJoined) isEvent() {}
func (ParticipantLeft) isEvent()   {}
func (TrackPublished) isEvent()    {}
func (TrackUnpublished) isEvent()  {}
func (TrackMuted) isEvent()        {}
func (TrackUndecodable) isEvent()  {}
func (CodecChange) isEvent()       {}
func (ActiveSpeakers) isEvent()    {}
func (Bye) isEvent()               {}
func (Move) isEvent()              {}

// Target names one of a participant's two PeerConnections.
type Target string

// The two PeerConnections of a participant.
const (
	TargetPublisher  Target = "publisher"
	TargetSubscriber Target = "subscriber"
)

// RestartRequest asks the client for an ICE restart of its publisher
// connection, which it offers: the server's side of it went disconnected
// or failed.
type RestartRequest struct{ Target Target }

func (RestartRequest) isEvent() {}

// PublisherAnswer carries the answer to the client's publisher offer.
type PublisherAnswer struct{ SDP string }

func (PublisherAnswer) isEvent() {}
