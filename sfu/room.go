package sfu

import (
	"sync"
	"sync/atomic"
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
// From its first join until it is removed, a room runs one goroutine, its
// event loop (run): it samples the members' audio levels and tells them
// who speaks, and runs what is posted to it (post) one at a time, in
// order, such as the peer-to-peer decisions (peerPolicy) it owns.
type Room struct {
	name string
	sfu  *SFU

	mu       sync.Mutex // guards the fields below
	members  map[string]*member
	clients  int            // members of roleClient: the room is removed when none is left
	closed   bool           // set when the room is removed from the SFU; a joiner must fetch a new one
	speakers ActiveSpeakers // the last sent, for joiners
	pair     [2]string      // the two with a peer connection under way, if any
	ending   [2]string      // the two whose call went back to the SFU, until each says closed
	// stopLoop is closed to end run, which then closes loopDone. nil
	// before the first join and once stopped.
	stopLoop chan struct{}
	loopDone chan struct{}

	opsMu sync.Mutex
	ops   []func(now time.Time) // posted, not yet run
	wake  chan struct{}         // signalled when ops is no longer empty

	peers *peerPolicy // owned by run

	data atomic.Pointer[dataRoster] // who receives application data (dataroster.go); stored under mu
}

// member is one member of the room and the tracks it publishes in it.
type member struct {
	p      roomMember
	role   memberRole
	tracks []*UpTrack
	// muted is what the member last said of each kind ("audio",
	// "video"): a mute may come before the track it is about, and a track
	// published later starts as it says.
	muted map[string]bool
	// noDecode holds the video codecs (lower-case MIME types) the member
	// cannot decode: as it said in join, as its answers showed, or, for
	// an imported member, as its node said (roomcodecs.go).
	noDecode map[string]bool
}

func newRoom(s *SFU, name string) *Room {
	return &Room{name: name, sfu: s, members: make(map[string]*member), wake: make(chan struct{}, 1),
		peers: newPeerPolicy(s.cfg.P2P.Delay, s.cfg.P2P.Timeout)}
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// join adds p, sends it the Joined event and subscribes it to every track
// already published but its twin's (see twins). A client with the same identity as a client present
// (one that reconnected before its old session timed out) replaces it.
// join returns errRoomGone if the room was removed meanwhile, and
// errMemberExists if another member has p's ID.
func (r *Room) join(p roomMember) error {
	role := p.role()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errRoomGone
	}
	var replaced *member
	if role == roleClient {
		for _, m := range r.members {
			if m.role == roleClient && m.p.identity() == p.identity() {
				replaced = m
				delete(r.members, m.p.ID())
				r.clients--
				break
			}
		}
	}
	if _, taken := r.members[p.ID()]; taken {
		if replaced != nil {
			r.members[replaced.p.ID()] = replaced
			r.clients++
		}
		r.mu.Unlock()
		return errMemberExists
	}
	others := r.othersLocked(nil)
	infos := make([]ParticipantInfo, 0, len(r.members))
	var tracks []*UpTrack
	for _, m := range r.members {
		if m.role != roleRelay {
			infos = append(infos, m.info())
		}
		if !twins(m.p, p) {
			tracks = append(tracks, m.tracks...)
		}
	}
	r.members[p.ID()] = &member{p: p, role: role, noDecode: declaredUndecodable(p)}
	if role == roleClient {
		r.clients++
	}
	// send does not block, and sending under mu guarantees that Joined is
	// the first thing the client hears, before any event about a track
	// published right after.
	joined := Joined{Room: r.name, Self: p.Info(), Others: infos}
	if c, ok := p.(*Participant); ok && c.who.Grants.Data {
		joined.Data = r.sfu.cfg.Data.limits()
	}
	p.send(joined)
	if len(r.speakers.Speakers) > 0 {
		p.send(r.speakers)
	}
	if r.stopLoop == nil && r.loopDone == nil {
		r.stopLoop, r.loopDone = make(chan struct{}), make(chan struct{})
		go r.run(r.stopLoop, r.loopDone)
	}
	if role != roleRelay {
		// Posted under mu, so that the policy sees joins and departures
		// in the order the room made them.
		id, eligible := p.ID(), r.peerEligible(p)
		r.post(func(now time.Time) { r.applyPeer(r.peers.Joined(now, id, eligible)) })
	}
	r.mu.Unlock()

	if role != roleClient {
		r.refreshData() // a relay, or a participant of another node (dataroster.go)
	}
	if role == roleClient {
		r.sfu.metrics.Participants.Inc()
	}
	if replaced != nil {
		r.departed(replaced, others)
		replaced.p.send(Bye{Reason: "replaced"})
		go replaced.p.Close()
	}
	if role != roleRelay {
		for _, o := range others {
			o.send(ParticipantJoined{Participant: p.Info()})
		}
	}
	for _, t := range tracks {
		p.subscribe(t)
	}
	return nil
}

// leave removes p, if it is still a member, and tells the others. When
// the last client leaves, the room is removed, and the relays still in it
// are told to end.
func (r *Room) leave(p roomMember) {
	r.mu.Lock()
	m, ok := r.members[p.ID()]
	if !ok || m.p != p {
		r.mu.Unlock()
		return
	}
	delete(r.members, p.ID())
	if m.role == roleClient {
		r.clients--
	}
	if m.role != roleRelay {
		id := p.ID()
		r.post(func(now time.Time) { r.applyPeer(r.peers.Left(now, id)) })
	}
	others := r.othersLocked(nil)
	r.mu.Unlock()

	r.refreshData()
	r.departed(m, others)
	r.sfu.removeIfEmpty(r)

	// A removed room is never joined again: stop its loop, and end its
	// relays. Waiting for the loop is safe because it takes nothing but
	// mu, which is released, and sends without blocking; a relay's Close
	// does not wait.
	r.mu.Lock()
	var stop, done chan struct{}
	var relays []roomMember
	if r.closed {
		if r.stopLoop != nil {
			stop, done = r.stopLoop, r.loopDone
			r.stopLoop = nil
		}
		for _, o := range r.members {
			if o.role == roleRelay {
				relays = append(relays, o.p)
			}
		}
	}
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	for _, o := range relays {
		o.Close()
	}
}

// post has fn run on the room's loop, after everything posted before it,
// with the time it runs. It never blocks; what is posted to a room that
// is removed before it runs is dropped.
func (r *Room) post(fn func(now time.Time)) {
	r.opsMu.Lock()
	r.ops = append(r.ops, fn)
	r.opsMu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run is the room's event loop, until stop is closed: it runs what is
// posted, wakes peerPolicy when it has something to decide, and samples
// the members' audio levels every speakerInterval.
func (r *Room) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(speakerInterval)
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sp := &speakerLoop{det: newSpeakerDetector(defaultSpeakerConfig()), samples: make(map[string]levelSample)}
	quality := time.NewTicker(qualityEvery)
	defer quality.Stop()
	q := &qualityLoop{}
	var batch []func(time.Time)
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			r.sampleSpeakers(sp, now)
			continue
		case <-quality.C:
			r.sendQuality(q)
			continue
		case <-r.wake:
			r.opsMu.Lock()
			batch, r.ops = r.ops, batch[:0]
			r.opsMu.Unlock()
			for i, fn := range batch {
				fn(r.sfu.now())
				batch[i] = nil
			}
		case <-timer.C:
			r.applyPeer(r.peers.Tick(r.sfu.now()))
		}
		timer.Stop()
		if next, ok := r.peers.Next(); ok {
			timer.Reset(max(next.Sub(r.sfu.now()), 0))
		}
	}
}

// speakerLoop is the state run keeps for sampleSpeakers.
type speakerLoop struct {
	det     *speakerDetector
	samples map[string]levelSample
	to      []roomMember
}

// sampleSpeakers samples the members' audio levels and sends
// ActiveSpeakers to every member when the detector says so.
func (r *Room) sampleSpeakers(sp *speakerLoop, now time.Time) {
	samples, to := sp.samples, sp.to[:0]
	clear(samples)
	r.mu.Lock()
	for id, m := range r.members {
		if m.role == roleRelay {
			continue
		}
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
	sp.to = to

	ev, ok := sp.det.update(now, samples)
	if !ok {
		return
	}
	r.mu.Lock()
	r.speakers = ev
	r.mu.Unlock()
	for _, p := range to {
		p.send(ev)
	}
}

// departed ends a removed member's tracks for the others and announces
// that it left.
func (r *Room) departed(m *member, others []roomMember) {
	if m.role == roleClient {
		r.sfu.metrics.Participants.Dec()
	}
	for _, t := range m.tracks {
		if t.close() {
			r.sfu.metrics.Tracks.Dec()
		}
		for _, o := range others {
			o.unsubscribe(t)
		}
	}
	if m.role == roleRelay {
		return
	}
	for _, o := range others {
		o.send(ParticipantLeft{ParticipantID: m.p.ID()})
	}
}

// publish adds up to p's tracks and subscribes everybody else but p's
// twin to it. It
// reports false if p is no longer in the room.
func (r *Room) publish(p roomMember, up *UpTrack) bool {
	r.mu.Lock()
	m, ok := r.members[p.ID()]
	if !ok || m.p != p {
		r.mu.Unlock()
		return false
	}
	if muted, said := m.muted[up.kind.String()]; said && up.source == defaultSource(up.kind) {
		up.muted.Store(muted)
	}
	m.tracks = append(m.tracks, up)
	others := r.othersLocked(p)
	r.mu.Unlock()

	r.sfu.metrics.Tracks.Inc()
	for _, o := range others {
		o.send(TrackPublished{ParticipantID: p.ID(), Track: up.Info()})
		if !twins(p, o) {
			o.subscribe(up)
		}
	}
	return true
}

// twins reports whether a and b are two sessions of one client: the
// same identity, one of them served by another node (a client moving
// off a draining node is in the room twice for a moment). A client is
// not sent its twin's media, which it has already, and which would take
// the bandwidth its new session needs for everybody else's.
func twins(a, b roomMember) bool {
	return a.role() != roleRelay && b.role() != roleRelay && a.identity() == b.identity()
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

// setMuted marks p's camera ("video") or microphone ("audio") tracks
// muted or not and tells the others. The tracks p publishes later start
// that way too. A shared screen is not a camera: turning the camera off
// leaves it on.
func (r *Room) setMuted(p roomMember, kind string, muted bool) {
	r.mu.Lock()
	m, ok := r.members[p.ID()]
	if !ok || m.p != p {
		r.mu.Unlock()
		return
	}
	if kind == "audio" || kind == "video" {
		if m.muted == nil {
			m.muted = make(map[string]bool, 2)
		}
		m.muted[kind] = muted
	}
	var changed []TrackInfo
	for _, t := range m.tracks {
		if t.kind.String() == kind && t.source == defaultSource(t.kind) && t.muted.Swap(muted) != muted {
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

// roleOf tells whether the member with this ID is in the room, and its
// role.
func (r *Room) roleOf(id string) (memberRole, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[id]
	if !ok {
		return 0, false
	}
	return m.role, true
}

// activeSpeaker is the participant ID of the current active speaker, or "".
func (r *Room) activeSpeaker() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.speakers.Active
}
