package sfu

import "sync"

// Room is a set of participants who receive each other's tracks.
//
// Membership and the list of published tracks change under mu, so that
// every (track, subscriber) pair is set up exactly once however joins and
// publications interleave; the resulting work is then posted to the
// participants' event loops after mu is released.
type Room struct {
	name string
	sfu  *SFU

	mu      sync.Mutex // guards the fields below
	members map[string]*member
	closed  bool // set when the room is removed from the SFU; a joiner must fetch a new one
}

type member struct {
	p      *Participant
	tracks []*UpTrack
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
func (r *Room) join(p *Participant) bool {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	var replaced *member
	for _, m := range r.members {
		if m.p.who.Identity == p.who.Identity {
			replaced = m
			delete(r.members, m.p.id)
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
	r.members[p.id] = &member{p: p}
	p.room = r
	// The EventSink does not block, and sending under mu guarantees that
	// Joined is the first thing the client hears, before any event about
	// a track published right after.
	p.sink.Send(Joined{Room: r.name, Self: p.Info(), Others: infos})
	r.mu.Unlock()

	r.sfu.metrics.Participants.Inc()
	if replaced != nil {
		r.departed(replaced, others)
		replaced.p.sink.Send(Bye{Reason: "replaced"})
		go replaced.p.Close()
	}
	for _, o := range others {
		o.sink.Send(ParticipantJoined{Participant: p.Info()})
	}
	for _, t := range tracks {
		p.subscribe(t)
	}
	return true
}

// leave removes p, if it is still a member, and tells the others.
func (r *Room) leave(p *Participant) {
	r.mu.Lock()
	m, ok := r.members[p.id]
	if !ok || m.p != p {
		r.mu.Unlock()
		return
	}
	delete(r.members, p.id)
	others := r.othersLocked(nil)
	r.mu.Unlock()

	r.departed(m, others)
	r.sfu.removeIfEmpty(r)
}

// departed ends a removed member's tracks for the others and announces
// that it left.
func (r *Room) departed(m *member, others []*Participant) {
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
		o.sink.Send(ParticipantLeft{ParticipantID: m.p.id})
	}
}

// publish adds up to p's tracks and subscribes everybody else to it. It
// reports false if p is no longer in the room.
func (r *Room) publish(p *Participant, up *UpTrack) bool {
	r.mu.Lock()
	m, ok := r.members[p.id]
	if !ok || m.p != p {
		r.mu.Unlock()
		return false
	}
	m.tracks = append(m.tracks, up)
	others := r.othersLocked(p)
	r.mu.Unlock()

	r.sfu.metrics.Tracks.Inc()
	for _, o := range others {
		o.sink.Send(TrackPublished{ParticipantID: p.id, Track: up.Info()})
		o.subscribe(up)
	}
	return true
}

// unpublish ends one track whose reader stopped.
func (r *Room) unpublish(p *Participant, up *UpTrack) {
	r.mu.Lock()
	var others []*Participant
	if m, ok := r.members[p.id]; ok && m.p == p {
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
		o.sink.Send(TrackUnpublished{ParticipantID: p.id, TrackID: up.id})
		o.unsubscribe(up)
	}
}

// setMuted marks p's tracks of a kind muted or not and tells the others.
func (r *Room) setMuted(p *Participant, kind string, muted bool) {
	r.mu.Lock()
	m, ok := r.members[p.id]
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
			o.sink.Send(TrackMuted{ParticipantID: p.id, Track: t})
		}
	}
}

// othersLocked lists the members other than skip. The caller holds mu.
func (r *Room) othersLocked(skip *Participant) []*Participant {
	out := make([]*Participant, 0, len(r.members))
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
