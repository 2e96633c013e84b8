package sfu

import (
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Room is a set of participants who receive each other's tracks.
//
// Membership and the list of published tracks change under mu, so that
// every (track, subscriber) pair is set up exactly once however joins and
// publications interleave; the resulting work is then posted to the
// participants' event loops after mu is released.
//
// From its first join until it is removed, a room runs one goroutine that
// samples its members' audio levels and tells them who speaks
// (runSpeakers).
type Room struct {
	name string
	sfu  *SFU

	mu       sync.Mutex // guards the fields below
	members  map[string]*member
	closed   bool           // set when the room is removed from the SFU; a joiner must fetch a new one
	speakers ActiveSpeakers // the last sent, for joiners
	// stopSpeakers is closed to end runSpeakers, which then closes
	// speakersDone. nil before the first join and once stopped.
	stopSpeakers chan struct{}
	speakersDone chan struct{}
}

// member is one member of the room and the tracks it publishes in it.
type member struct {
	p      roomMember
	tracks []*UpTrack
}

// roomMember is what a Room needs of a member. A Participant is one; a
// member may also be something that is not a client, such as a relay of
// media between nodes, which receives the room's tracks and publishes
// tracks of its own through the same Room methods.
//
// The Room calls send under Room.mu, so that a joiner hears Joined
// before anything else, and the other methods with no lock held.
type roomMember interface {
	// ID identifies the member on this node.
	ID() string
	// identity is who the member is: a join with the identity of a
	// member already present replaces that member.
	identity() string
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
	// Close ends the member when it was replaced or the SFU closes. It
	// leaves the room (Room.leave) and may block until it is gone.
	Close()
}

func newRoom(s *SFU, name string) *Room {
	return &Room{name: name, sfu: s, members: make(map[string]*member)}
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// join adds p, sends it the Joined event and subscribes it to every track
// already published. A member with the same identity (a client that
// reconnected before its old session timed out) is replaced. join reports
// false if the room was closed meanwhile.
func (r *Room) join(p roomMember) bool {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	var replaced *member
	for _, m := range r.members {
		if m.p.identity() == p.identity() {
			replaced = m
			delete(r.members, m.p.ID())
			break
		}
	}
	others := r.othersLocked(nil)
	infos := make([]ParticipantInfo, 0, len(r.members))
	var tracks []*UpTrack
	for _, m := range r.members {
		infos = append(infos, m.info())
		tracks = append(tracks, m.tracks...)
	}
	r.members[p.ID()] = &member{p: p}
	// send does not block, and sending under mu guarantees that Joined is
	// the first thing the client hears, before any event about a track
	// published right after.
	p.send(Joined{Room: r.name, Self: p.Info(), Others: infos})
	if len(r.speakers.Speakers) > 0 {
		p.send(r.speakers)
	}
	if r.stopSpeakers == nil && r.speakersDone == nil {
		r.stopSpeakers, r.speakersDone = make(chan struct{}), make(chan struct{})
		go r.runSpeakers(r.stopSpeakers, r.speakersDone)
	}
	r.mu.Unlock()

	r.sfu.metrics.Participants.Inc()
	if replaced != nil {
		r.departed(replaced, others)
		replaced.p.send(Bye{Reason: "replaced"})
		go replaced.p.Close()
	}
	for _, o := range others {
		o.send(ParticipantJoined{Participant: p.Info()})
	}
	for _, t := range tracks {
		p.subscribe(t)
	}
	return true
}

// leave removes p, if it is still a member, and tells the others.
func (r *Room) leave(p roomMember) {
	r.mu.Lock()
	m, ok := r.members[p.ID()]
	if !ok || m.p != p {
		r.mu.Unlock()
		return
	}
	delete(r.members, p.ID())
	others := r.othersLocked(nil)
	r.mu.Unlock()

	r.departed(m, others)
	r.sfu.removeIfEmpty(r)

	// A removed room is never joined again: stop its speaker loop. Waiting
	// for it is safe because it takes nothing but mu, which is released.
	r.mu.Lock()
	var stop, done chan struct{}
	if r.closed && r.stopSpeakers != nil {
		stop, done = r.stopSpeakers, r.speakersDone
		r.stopSpeakers = nil
	}
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// runSpeakers samples the members' audio levels every speakerInterval and
// sends ActiveSpeakers to every member when the detector says so, until
// stop is closed.
func (r *Room) runSpeakers(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(speakerInterval)
	defer tick.Stop()
	det := newSpeakerDetector(defaultSpeakerConfig())
	samples := make(map[string]levelSample)
	var to []roomMember
	for {
		var now time.Time
		select {
		case <-stop:
			return
		case now = <-tick.C:
		}
		clear(samples)
		to = to[:0]
		r.mu.Lock()
		for id, m := range r.members {
			var s levelSample
			for _, t := range m.tracks {
				if t.kind != webrtc.RTPCodecTypeAudio {
					continue
				}
				// Always take, so a muted track's levels do not pile up.
				if got := t.levels.take(); !t.muted.Load() {
					s = s.add(got)
				}
			}
			samples[id] = s
			to = append(to, m.p)
		}
		r.mu.Unlock()

		ev, ok := det.update(now, samples)
		if !ok {
			continue
		}
		r.mu.Lock()
		r.speakers = ev
		r.mu.Unlock()
		for _, p := range to {
			p.send(ev)
		}
	}
}

// departed ends a removed member's tracks for the others and announces
// that it left.
func (r *Room) departed(m *member, others []roomMember) {
	r.sfu.metrics.Participants.Dec()
	for _, t := range m.tracks {
		if t.close() {
			r.sfu.metrics.Tracks.Dec()
		}
		for _, o := range others {
			o.unsubscribe(t)
		}
	}
	for _, o := range others {
		o.send(ParticipantLeft{ParticipantID: m.p.ID()})
	}
}

// publish adds up to p's tracks and subscribes everybody else to it. It
// reports false if p is no longer in the room.
func (r *Room) publish(p roomMember, up *UpTrack) bool {
	r.mu.Lock()
	m, ok := r.members[p.ID()]
	if !ok || m.p != p {
		r.mu.Unlock()
		return false
	}
	m.tracks = append(m.tracks, up)
	others := r.othersLocked(p)
	r.mu.Unlock()

	r.sfu.metrics.Tracks.Inc()
	for _, o := range others {
		o.send(TrackPublished{ParticipantID: p.ID(), Track: up.Info()})
		o.subscribe(up)
	}
	return true
}

// unpublish ends one track whose reader stopped.
func (r *Room) unpublish(p roomMember, up *UpTrack) {
	r.mu.Lock()
	var others []roomMember
	if m, ok := r.members[p.ID()]; ok && m.p == p {
		for i, t := range m.tracks {
			if t == up {
				m.tracks = append(m.tracks[:i], m.tracks[i+1:]...)
				break
			}
		}
		others = r.othersLocked(p)
	}
	r.mu.Unlock()
	if !up.close() {
		return // already ended with its participant
	}
	r.sfu.metrics.Tracks.Dec()
	for _, o := range others {
		o.send(TrackUnpublished{ParticipantID: p.ID(), TrackID: up.id})
		o.unsubscribe(up)
	}
}

// setMuted marks p's tracks of a kind muted or not and tells the others.
func (r *Room) setMuted(p roomMember, kind string, muted bool) {
	r.mu.Lock()
	m, ok := r.members[p.ID()]
	if !ok || m.p != p {
		r.mu.Unlock()
		return
	}
	var changed []TrackInfo
	for _, t := range m.tracks {
		if t.kind.String() == kind && t.muted.Swap(muted) != muted {
			changed = append(changed, t.Info())
		}
	}
	others := r.othersLocked(p)
	r.mu.Unlock()
	for _, o := range others {
		for _, t := range changed {
			o.send(TrackMuted{ParticipantID: p.ID(), Track: t})
		}
	}
}

// othersLocked lists the members other than skip. The caller holds mu.
func (r *Room) othersLocked(skip roomMember) []roomMember {
	out := make([]roomMember, 0, len(r.members))
	for _, m := range r.members {
		if m.p != skip {
			out = append(out, m.p)
		}
	}
	return out
}

func (m *member) info() ParticipantInfo {
	info := m.p.Info()
	for _, t := range m.tracks {
		info.Tracks = append(info.Tracks, t.Info())
	}
	return info
}

// activeSpeaker is the participant ID of the current active speaker, or "".
func (r *Room) activeSpeaker() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.speakers.Active
}
