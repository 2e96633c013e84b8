package loadtest

import (
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/sfu-project/sfu/rtp"
)

// What a client with Options.P2P shows of each remote participant: the
// video from the SFU or from the peer connection, swapped as a browser
// swaps the source of a video element, and the media gap each switch of
// path left (PathSwitch).

// Paths a client can get a participant's media over.
const (
	PathSFU  = "sfu"
	PathPeer = "peer"
)

// switchSettle is how long after a switch completes the frames shown
// still count towards its gap: the new path's first frames, which might
// stall.
const switchSettle = time.Second

// PathSwitch is one change of the path a client sends and shows its
// peer's media over (a mode message).
type PathSwitch struct {
	PeerID string
	// To is the room's new mode: "p2p" or "sfu".
	To     string
	Reason string
	// At is when the mode message arrived.
	At time.Time
	// Done is when the peer's media was shown from the new path: At for
	// "p2p" (the direct media already played); for "sfu", when the SFU's
	// media of the peer played (its first complete keyframe; the peer
	// connection closes later). Zero until then.
	Done time.Time
	// Gap is the longest time between two video frames of the peer shown,
	// over the switch: from the last frame before At to the first after
	// Done plus a second. While the switch is under way it includes the
	// time since the last frame.
	Gap time.Duration
}

// shown is how a client shows one remote participant's video.
type shown struct {
	from     string // PathSFU or PathPeer
	needKey  bool   // from changed to a decoder that stalled: show from its next keyframe
	awaitSFU bool   // mode sfu: swap to the SFU's media at its first keyframe
	// peerAudio, peerVideo: media of that kind came over the peer
	// connection, so the SFU's must play before the swap.
	peerAudio, peerVideo bool
	last                 time.Time // the last frame shown
	longest              time.Duration
	sfu                  keyWatch
	peer                 keyWatch
}

// keyWatch finds complete keyframes in a stream of video packets: a
// packet that starts a keyframe and the marker packet of the same frame.
type keyWatch struct {
	ts   uint32
	open bool
}

// see takes the next packet and reports whether it completed a keyframe.
// Loss within the keyframe is not noticed: media comes over loopback.
func (k *keyWatch) see(p *pionrtp.Packet) bool {
	if rtp.IsKeyframe(rtp.CodecVP8, p.Payload) {
		k.ts, k.open = p.Timestamp, true
	}
	if !p.Marker {
		return false
	}
	done := k.open && k.ts == p.Timestamp
	k.open = false
	return done
}

// shownOfLocked returns id's display state, made on first sight.
func (s *peerSide) shownOfLocked(id string) *shown {
	d, ok := s.display[id]
	if !ok {
		d = &shown{from: PathSFU}
		s.display[id] = d
	}
	return d
}

// saw takes a packet of participant id that arrived at at over the peer
// connection l, or, with l nil, the subscriber connection. It runs on
// the goroutines that read the connections' packets.
func (s *peerSide) saw(l *peerLink, id string, audio bool, p *pionrtp.Packet, at time.Time) {
	path := PathSFU
	if l != nil {
		path = PathPeer
	}
	var then func()
	s.mu.Lock()
	if l != nil && l != s.cur {
		s.mu.Unlock()
		return // a connection closed meanwhile
	}
	d := s.shownOfLocked(id)
	if l != nil {
		s.lastDirect = at
	}
	key := false
	switch {
	case l != nil && audio:
		d.peerAudio = true
	case l != nil:
		d.peerVideo = true
		key = d.peer.see(p)
	case !audio:
		key = d.sfu.see(p)
	}
	// Media that plays: a keyframe, or audio from a participant who
	// sends no video (as far as the server said, or the peer connection
	// carried).
	switch {
	case l != nil && s.status.FirstMedia.IsZero() && (key || (audio && !s.roster.sends(id, "video"))):
		s.status.FirstMedia = at
		then = func() { s.peerMedia(l) }
	case l == nil && d.awaitSFU && (key || (audio && !d.peerVideo)):
		// Swap to the SFU's media in one step, then close the peer
		// connection.
		d.awaitSFU, d.from, d.needKey = false, PathSFU, false
		s.switchDoneLocked(id, at)
		then = func() { s.swapped(id) }
	}
	if !audio && p.Marker && path == d.from && (!d.needKey || key) {
		d.needKey = false
		s.frameLocked(d, id, at)
	}
	s.mu.Unlock()
	if then != nil {
		s.post(then)
	}
}

// frameLocked records a video frame of id shown at at.
func (s *peerSide) frameLocked(d *shown, id string, at time.Time) {
	if !d.last.IsZero() {
		gap := at.Sub(d.last)
		d.longest = max(d.longest, gap)
		sw := s.status.Switches
		for i := len(sw) - 1; i >= 0 && i >= len(sw)-4; i-- {
			if sw[i].PeerID == id && sw[i].covers(d.last, at) {
				sw[i].Gap = max(sw[i].Gap, gap)
			}
		}
	}
	d.last = at
}

// covers reports whether the interval between frames shown at from and
// to counts towards the switch's gap.
func (sw *PathSwitch) covers(from, to time.Time) bool {
	return !to.Before(sw.At) && (sw.Done.IsZero() || !from.After(sw.Done.Add(switchSettle)))
}

// switchDoneLocked marks id's latest switch done at at.
func (s *peerSide) switchDoneLocked(id string, at time.Time) {
	for i := len(s.status.Switches) - 1; i >= 0; i-- {
		if sw := &s.status.Switches[i]; sw.PeerID == id {
			if sw.Done.IsZero() {
				sw.Done = at
			}
			return
		}
	}
}

// showLocked makes the client show id's video from path from now on.
func (s *peerSide) showLocked(id, path string) {
	d := s.shownOfLocked(id)
	d.awaitSFU = false
	if path == PathSFU {
		d.peerAudio, d.peerVideo = false, false
	}
	if d.from != path {
		// The peer connection's decoder ran all along (its media played
		// before the call went direct); the SFU's stalled meanwhile.
		d.from, d.needKey = path, path == PathSFU
	}
}

// roster is which kinds of track each remote participant publishes, from
// the server's messages.
type roster map[string]map[string]string // participant ID -> track ID -> kind

func (r roster) sends(id, kind string) bool {
	for _, k := range r[id] {
		if k == kind {
			return true
		}
	}
	return false
}

func (r roster) add(p Participant) {
	for _, t := range p.Tracks {
		r.addTrack(p.ID, t)
	}
}

func (r roster) addTrack(id string, t Track) {
	if r[id] == nil {
		r[id] = map[string]string{}
	}
	r[id][t.ID] = t.Kind
}

// observe updates the roster from message m.
func (r roster) observe(m Message) {
	switch m.Type {
	case "joined":
		for _, p := range m.Participants {
			r.add(p)
		}
	case "participants":
		for _, p := range m.Joined {
			r.add(p)
		}
		for _, id := range m.Left {
			delete(r, id)
		}
	case "track_published":
		if m.Track != nil {
			r.addTrack(m.ParticipantID, *m.Track)
		}
	case "track_unpublished":
		delete(r[m.ParticipantID], m.TrackID)
	}
}
