package loadtest

import (
	"slices"
	"sync"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Peer to peer for two (signaling/PROTOCOL.md): a client with Options.P2P
// opens the peer connection the server asks for (peer_start), negotiates
// it through the server, reports on it (peer_state), and on the server's
// mode messages stops and resumes sending to the SFU, swapping the source
// it shows its peer's media from make before break.
//
// peerSide runs it all on one goroutine, the peer loop: the reader hands
// it the server's messages, pion its connection's events, the packet
// readers the media that plays. Negotiation, opening and closing happen
// there in order, and none of it waits on the reader.

// peerTimeout is how long an ICE restart has to reconnect, and the SFU's
// media of the peer to play after the call went back to it, before the
// peer connection is given up (the server's p2p_timeout by default).
const peerTimeout = 5 * time.Second

// After the SFU's media of the peer replaced its direct media here, the
// peer connection stays open, still sending, while the peer may still
// show this client's media from it: until the peer's own direct media
// stops for peerQuiet (the peer closed its side), or for peerLinger. The
// protocol gives no word of the peer's swap, and the SFU's media of a
// track that had not reached it before the call went direct takes up to
// about 2.3 s to play there (measured on loopback).
const (
	peerLinger = 3 * time.Second
	peerQuiet  = 500 * time.Millisecond
	// lingerCheck is how often a lingering connection looks for quiet.
	lingerCheck = 100 * time.Millisecond
)

// Reasons of mode messages the client acts on.
const reasonPeerLeft = "peer_left"

// PeerStatus is what a client with Options.P2P did about peer to peer.
type PeerStatus struct {
	// Mode is the room's media path as the server last said: "sfu" or
	// "p2p". The client sends to the SFU unless it is "p2p".
	Mode string
	// PeerID is the other end of the open peer connection, if any.
	PeerID string
	Polite bool
	// Started is when the latest peer_start arrived; FirstMedia when the
	// peer's media first played over that connection (a complete video
	// keyframe, or audio from a peer that sends no video); Connected
	// when the client reported it connected, with Candidate the local
	// candidate type of its selected pair; Closed when it was closed.
	Started, FirstMedia, Connected, Closed time.Time
	Candidate                              string
	// RemoteCandidate is the remote candidate type of that pair, as the
	// client saw it (a peer's server reflexive address it first learnt
	// from a check, not a candidate, is "prflx").
	RemoteCandidate string
	// RemoteAddress is that candidate's address and port.
	RemoteAddress string
	// Path is what the client reported of that pair: "host", "srflx" or
	// "relay" (pathOf).
	Path string
	// ICERestarts counts the ICE restarts of the open peer connection (or
	// the latest one closed): offered here, or answered to the peer.
	ICERestarts int
	// Ignored counts the peer's offers ignored because they crossed one
	// of ours (on the impolite side).
	Ignored int
	// Ends are the reasons of the peer_end messages, oldest first: the
	// peer left, or the direct path was given up before it carried the
	// call.
	Ends []string
	// Switches are the mode changes, oldest first.
	Switches []PathSwitch
	// Showing is, for each remote participant whose video arrived, the
	// path it is shown from (PathSFU or PathPeer).
	Showing map[string]string
	// LongestGap is, for each, the longest time between two video
	// frames shown, whichever path they came over.
	LongestGap map[string]time.Duration
}

type peerSide struct {
	c   *Client
	tee mediaTee
	pli chan struct{} // the publisher's keyframe requests
	now func() time.Time
	// afterFunc is time.AfterFunc; the function it runs must only post.
	afterFunc func(time.Duration, func()) *time.Timer

	opsMu sync.Mutex
	ops   []func() // posted, not yet run
	wake  chan struct{}

	link *peerLink // the open peer connection; the loop's

	mu     sync.Mutex // guards the fields below
	cur    *peerLink  // link, for the packet readers
	last   *receiver  // the latest peer connection's
	status PeerStatus // Switches' gaps grow as frames are shown
	// lastDirect is when the open peer connection's latest packet came.
	lastDirect time.Time
	display    map[string]*shown
	roster     roster
	// iceServers are the joined message's, for the peer connections
	// (Options.ICE.FromJoined).
	iceServers []webrtc.ICEServer

	all []*receiver // every peer connection's, oldest first
}

// startPeer sets a client with Options.P2P up to take part in peer
// connections: it watches the subscriber's media of each participant and
// starts the peer loop. Dial calls it before the reader starts.
func (c *Client) startPeer() {
	if !c.opts.P2P || c.opts.NoP2P {
		return
	}
	s := &peerSide{c: c, pli: make(chan struct{}, 1), now: time.Now, afterFunc: time.AfterFunc,
		wake: make(chan struct{}, 1), display: map[string]*shown{}, roster: roster{}}
	s.status.Mode = "sfu"
	c.peer = s
	user := c.recv.observe
	c.recv.observe = func(id string, audio bool, p *pionrtp.Packet, at time.Time) {
		s.saw(nil, id, audio, p, at)
		if user != nil {
			user(id, audio, p, at)
		}
	}
	c.goTracked(s.run)
}

// keyframes is the channel of keyframe requests the publisher's frames
// follow: the peer side's, which the peer connection and the switches
// to the SFU request keyframes on, or a new one.
func (s *peerSide) keyframes() chan struct{} {
	if s == nil {
		return make(chan struct{}, 1)
	}
	return s.pli
}

// mediaTee is the tee the publisher writes through; nil without P2P.
func (s *peerSide) mediaTee() *mediaTee {
	if s == nil {
		return nil
	}
	return &s.tee
}

// handle takes a message from the reader and reports whether it was about
// the peer connection.
func (s *peerSide) handle(m Message) bool {
	if s == nil {
		return false
	}
	at := s.now()
	switch {
	case m.Target == "peer":
		s.post(func() { s.signal(m) })
	case m.Type == "peer_start":
		s.post(func() { s.start(m.PeerID, m.Polite, at) })
	case m.Type == "mode":
		s.post(func() { s.mode(m, at) })
	case m.Type == "peer_end":
		s.post(func() { s.end(m.PeerID, m.Reason) })
	default:
		s.mu.Lock()
		s.roster.observe(m)
		s.mu.Unlock()
		return false
	}
	return true
}

// post has fn run on the loop. It never blocks.
func (s *peerSide) post(fn func()) {
	s.opsMu.Lock()
	s.ops = append(s.ops, fn)
	s.opsMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the peer loop, until the client closes.
func (s *peerSide) run() {
	var batch []func()
	for {
		select {
		case <-s.c.stop:
			if s.link != nil {
				s.close(s.link, false)
			}
			return
		case <-s.wake:
			s.opsMu.Lock()
			batch, s.ops = s.ops, batch[:0]
			s.opsMu.Unlock()
			for i, fn := range batch {
				fn()
				batch[i] = nil
			}
		}
	}
}

func (s *peerSide) clientError(err error) {
	s.c.inbox.put(Message{Type: "client_error", Message: "peer connection: " + err.Error()})
}

// start opens a peer connection to peerID (peer_start), closing any
// other; the impolite side offers.
func (s *peerSide) start(peerID string, polite bool, at time.Time) {
	if s.link != nil {
		s.close(s.link, false)
	}
	l, err := s.open(peerID, polite)
	if err != nil {
		s.clientError(err)
		_ = s.c.Send(map[string]any{"type": "peer_state", "state": "failed"})
		return
	}
	s.link = l
	s.mu.Lock()
	s.cur = l
	s.all = append(s.all, l.recv)
	st := &s.status
	st.PeerID, st.Polite, st.Started = peerID, polite, at
	st.FirstMedia, st.Connected, st.Closed, st.Candidate, st.Path = time.Time{}, time.Time{}, time.Time{}, "", ""
	s.mu.Unlock()
	s.tee.peer.Store(l.tracks)
	if !polite {
		if err := l.neg.offer(false); err != nil {
			s.clientError(err)
		}
	}
}

// signal applies a relayed offer, answer or candidate.
func (s *peerSide) signal(m Message) {
	l := s.link
	if l == nil || m.From != l.peerID {
		return // for a connection closed since
	}
	if err := l.neg.remote(m); err != nil {
		s.clientError(err)
	}
	s.noteNegotiation(l)
}

// peerMedia notes that the peer's media played over l.
func (s *peerSide) peerMedia(l *peerLink) {
	if s.link == l {
		l.media = true
		s.maybeConnected(l)
	}
}

// mode acts on a mode message that arrived at at.
func (s *peerSide) mode(m Message, at time.Time) {
	l := s.link
	switch m.Mode {
	case "p2p":
		if l == nil || l.peerID != m.PeerID {
			return
		}
		// The peer's direct media plays already: show it, then stop
		// sending to the SFU.
		s.mu.Lock()
		s.status.Mode = "p2p"
		s.showLocked(l.peerID, PathPeer)
		s.status.Switches = append(s.status.Switches, PathSwitch{PeerID: l.peerID, To: "p2p", Reason: m.Reason, At: at, Done: at})
		s.mu.Unlock()
		s.tee.paused.Store(true)
	case "sfu":
		// Send to the SFU again, starting with a keyframe, as an encoder
		// whose encodings go active again does.
		s.tee.paused.Store(false)
		s.keyframe()
		s.mu.Lock()
		s.status.Mode = "sfu"
		if l == nil {
			s.mu.Unlock()
			return
		}
		s.status.Switches = append(s.status.Switches, PathSwitch{PeerID: l.peerID, To: "sfu", Reason: m.Reason, At: at})
		// Nothing to wait for when the peer is gone or sent nothing.
		d := s.shownOfLocked(l.peerID)
		now := m.Reason == reasonPeerLeft || !(d.peerAudio || d.peerVideo)
		if now {
			s.showLocked(l.peerID, PathSFU)
			s.switchDoneLocked(l.peerID, at)
		} else {
			d.awaitSFU = true
		}
		s.mu.Unlock()
		if now {
			s.close(l, true)
			return
		}
		l.closing = true
		if l.timer != nil {
			l.timer.Stop()
		}
		l.timer = s.afterFunc(peerTimeout, func() {
			s.post(func() {
				if s.link == l {
					s.fail(l) // the SFU's media did not come: close anyway
				}
			})
		})
	}
}

// swapped closes the peer connection to id once the SFU's media of id
// plays here, and the peer closed its side or peerLinger passed.
func (s *peerSide) swapped(id string) {
	l := s.link
	if l == nil || !l.closing || l.peerID != id {
		return
	}
	s.linger(l, s.now().Add(peerLinger))
}

// linger closes l at until, or once the peer's direct media has stopped
// for peerQuiet.
func (s *peerSide) linger(l *peerLink, until time.Time) {
	now := s.now()
	s.mu.Lock()
	quiet := now.Sub(s.lastDirect) >= peerQuiet
	s.mu.Unlock()
	if quiet || !now.Before(until) {
		s.close(l, true)
		return
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = s.afterFunc(lingerCheck, func() {
		s.post(func() {
			if s.link == l {
				s.linger(l, until)
			}
		})
	})
}

// end closes the peer connection to peerID at once (peer_end, for
// reason).
func (s *peerSide) end(peerID, reason string) {
	s.mu.Lock()
	s.status.Ends = append(s.status.Ends, reason)
	s.mu.Unlock()
	if l := s.link; l != nil && l.peerID == peerID {
		s.close(l, false)
	}
	s.tee.paused.Store(false)
}

// keyframe has the publisher send a keyframe next.
func (s *peerSide) keyframe() {
	select {
	case s.pli <- struct{}{}:
	default:
	}
}

// renegotiate offers anew on the open peer connection.
func (s *peerSide) renegotiate(iceRestart bool) error {
	if s.link == nil {
		return ErrNoP2P
	}
	return s.link.neg.offer(iceRestart)
}

// PeerStatus returns what the client did about peer to peer so far; the
// zero PeerStatus without Options.P2P.
func (c *Client) PeerStatus() PeerStatus {
	s := c.peer
	if s == nil {
		return PeerStatus{}
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Switches = slices.Clone(st.Switches)
	st.Ends = slices.Clone(st.Ends)
	st.Showing = make(map[string]string, len(s.display))
	st.LongestGap = make(map[string]time.Duration, len(s.display))
	for id, d := range s.display {
		if d.last.IsZero() {
			continue
		}
		st.Showing[id], st.LongestGap[id] = d.from, d.longest
		for i := range st.Switches {
			// A freeze still under way counts.
			if sw := &st.Switches[i]; sw.PeerID == id && sw.covers(d.last, now) {
				sw.Gap = max(sw.Gap, now.Sub(d.last))
			}
		}
	}
	return st
}

// VideoFrames adds up the video frames of participant id in counts (what
// Received or ReceivedPeer returned): every video track of it, ended ones
// included.
func VideoFrames(counts map[string]TrackCounts, id string) int {
	n := 0
	for _, tc := range counts {
		if tc.ParticipantID == id && tc.Kind == "video" {
			n += tc.Frames
		}
	}
	return n
}

// ReceivedPeer returns what has arrived over the open peer connection, or
// the latest one closed, by track, as Received does for the SFU's.
func (c *Client) ReceivedPeer() map[string]TrackCounts {
	s := c.peer
	if s == nil {
		return nil
	}
	s.mu.Lock()
	r := s.last
	if s.cur != nil {
		r = s.cur.recv
	}
	s.mu.Unlock()
	if r == nil {
		return map[string]TrackCounts{}
	}
	return r.snapshot()
}

// ReceivedPeerAll returns what has arrived over each peer connection the
// client opened, oldest first, as ReceivedPeer does for the latest.
func (c *Client) ReceivedPeerAll() []map[string]TrackCounts {
	s := c.peer
	if s == nil {
		return nil
	}
	s.mu.Lock()
	all := slices.Clone(s.all)
	s.mu.Unlock()
	out := make([]map[string]TrackCounts, len(all))
	for i, r := range all {
		out[i] = r.snapshot()
	}
	return out
}

// RenegotiatePeer makes a new offer on the open peer connection, with new
// ICE credentials if iceRestart, as a client that adds a track or
// restarts ICE does; an offer of the peer that crosses it is ignored. On
// the polite side it returns ErrPoliteOffer.
func (c *Client) RenegotiatePeer(iceRestart bool) error {
	s := c.peer
	if s == nil {
		return ErrNoP2P
	}
	done := make(chan error, 1)
	s.post(func() { done <- s.renegotiate(iceRestart) })
	select {
	case err := <-done:
		return err
	case <-c.stop:
		return ErrDisconnected
	}
}
