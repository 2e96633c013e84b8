package sfu

// roomMember is what a Room needs of a member. A Participant is one; a
// member may also be something that is not a client of this node: a
// participant of another node whose tracks a relay brings here, or the
// sending end of such a relay (relay.go), which receives the room's
// tracks to send them on.
//
// The Room calls send under Room.mu, so that a joiner hears Joined
// before anything else, and the other methods with no lock held.
type roomMember interface {
	// ID identifies the member on this node.
	ID() string
	// identity is who the member is: a client that joins with the
	// identity of a client already present replaces that client.
	identity() string
	// role says what kind of member it is, which decides who is told
	// about it and whether it keeps the room open.
	role() memberRole
	// Info describes the member to the others, without tracks.
	Info() ParticipantInfo
	// send delivers an event to the member. It must not block, nor take
	// a lock that may be held while taking Room.mu.
	send(ev Event)
	// subscribe starts, and unsubscribe stops, sending the member a track
	// of another member. They must not block, and may be called for a
	// track that already ended (an UpTrack's addDownTrack then refuses).
	subscribe(up *UpTrack)
	unsubscribe(up *UpTrack)
	// Close ends the member when it was replaced, its room was removed
	// or the SFU closes. It leaves the room (Room.leave) and may block
	// until it is gone.
	Close()
}

// memberRole is what kind of member of a room a roomMember is.
type memberRole uint8

const (
	// roleClient is a client of this node (a Participant). A room lives
	// while it has one, and only clients are counted as participants.
	roleClient memberRole = iota
	// roleImported is a participant of another node, brought here by a
	// relay: the room's clients see it as any other participant, and it
	// publishes but never subscribes.
	roleImported
	// roleRelay is the sending end of a relay to another node: it
	// receives the room's tracks, and the others are never told of it.
	roleRelay
)
