package loadtest

import (
	"net"
	"strconv"
	"time"

	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// peerLink is one peer connection, to peerID. Its fields are the peer
// loop's.
type peerLink struct {
	peerID string
	polite bool
	pc     *webrtc.PeerConnection
	neg    *negotiator
	recv   *receiver // counts the peer's media
	tracks *peerTracks
	up     bool            // ICE and DTLS connected
	media  bool            // the peer's media played
	said   map[string]bool // the peer_state values reported
	// closing: the call went back to the SFU; the connection closes once
	// the SFU's media of the peer plays.
	closing bool
	timer   *time.Timer // an ICE restart's or a closing's deadline
}

// open makes a peer connection to peerID with the client's own ICE
// restrictions, sending one video and one audio track (written only
// while the client publishes) and counting what the peer sends.
func (s *peerSide) open(peerID string, polite bool) (*peerLink, error) {
	c := s.c
	o := c.opts
	o.DropIncoming = nil // that loss is the SFU's to repair
	se, _, err := newSettingEngine(o)
	if err != nil {
		return nil, err
	}
	api, err := newAPI(o, &ridTagger{}, se, nil)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(s.configuration())
	if err != nil {
		return nil, err
	}
	l := &peerLink{peerID: peerID, polite: polite, pc: pc, said: map[string]bool{}}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "peer")
	var audio *webrtc.TrackLocalStaticSample
	if err == nil {
		audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "peer")
	}
	// Audio first on both sides, so that the answerer's transceivers take
	// the offer's media sections in order.
	var as, vs *webrtc.RTPSender
	if err == nil {
		as, err = pc.AddTrack(audio)
	}
	if err == nil {
		vs, err = pc.AddTrack(video)
	}
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	l.tracks = &peerTracks{video: video, audio: audio}
	l.recv = newReceiver(func(p []rtcp.Packet) error { return pc.WriteRTCP(p) })
	l.recv.participant = peerID
	user := c.opts.Observe
	l.recv.observe = func(id string, audio bool, p *pionrtp.Packet, at time.Time) {
		s.saw(l, id, audio, p, at)
		if user != nil {
			user(id, audio, p, at)
		}
	}
	l.neg = &negotiator{pc: pc, polite: polite, send: c.Send}

	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			// A keyframe now, as a browser asks for its first picture.
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: l.recv.ssrc, MediaSSRC: uint32(t.SSRC())}})
		}
		c.goTracked(func() { l.recv.read(t, r, false) })
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		// Through the loop: after the description it belongs to is sent.
		s.post(func() {
			if s.link == l {
				_ = c.Send(map[string]any{"type": "candidate", "target": "peer", "candidate": init})
			}
		})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.post(func() { s.linkState(l, st) })
	})
	c.goTracked(func() { drainSender(vs, s.pli) })
	c.goTracked(func() { drainSender(as, nil) })
	clock.join(l.recv)
	return l, nil
}

// close closes l, and reports it closed if report.
func (s *peerSide) close(l *peerLink, report bool) {
	if l.timer != nil {
		l.timer.Stop()
	}
	s.tee.peer.CompareAndSwap(l.tracks, nil)
	clock.leave(l.recv)
	_ = l.pc.Close()
	if s.link == l {
		s.link = nil
	}
	s.mu.Lock()
	if s.cur == l {
		s.cur = nil
	}
	s.last = l.recv
	s.status.PeerID = ""
	s.status.Closed = s.now()
	s.showLocked(l.peerID, PathSFU)
	s.mu.Unlock()
	if report {
		s.say(l, "closed")
	}
}

// linkState acts on l's connection state.
func (s *peerSide) linkState(l *peerLink, st webrtc.PeerConnectionState) {
	if s.link != l {
		return
	}
	switch st {
	case webrtc.PeerConnectionStateConnecting:
		s.say(l, "connecting")
	case webrtc.PeerConnectionStateConnected:
		l.up = true
		if l.timer != nil && !l.closing {
			l.timer.Stop()
		}
		s.maybeConnected(l)
	case webrtc.PeerConnectionStateDisconnected:
		l.up = false
		if l.closing {
			return
		}
		if !l.polite {
			if err := l.neg.offer(true); err != nil {
				s.clientError(err)
			}
			s.noteNegotiation(l)
		}
		if l.timer != nil {
			l.timer.Stop()
		}
		l.timer = s.afterFunc(peerTimeout, func() {
			s.post(func() {
				if s.link == l && l.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
					s.fail(l)
				}
			})
		})
	case webrtc.PeerConnectionStateFailed:
		s.fail(l)
	}
}

// fail gives l up: the server moves the call to the SFU, or it is
// already there.
func (s *peerSide) fail(l *peerLink) {
	if l.closing {
		s.mu.Lock()
		s.showLocked(l.peerID, PathSFU)
		s.switchDoneLocked(l.peerID, s.now())
		s.mu.Unlock()
		s.close(l, true)
		return
	}
	s.say(l, "failed")
}

// maybeConnected reports l connected once ICE and DTLS are and the peer's
// media played. A peer that publishes nothing never plays: such a call
// stays on the SFU.
func (s *peerSide) maybeConnected(l *peerLink) {
	if !l.up || !l.media || l.said["connected"] {
		return
	}
	s.say(l, "connected")
}

// say reports l's state once.
func (s *peerSide) say(l *peerLink, state string) {
	if l.said[state] {
		return
	}
	l.said[state] = true
	msg := map[string]any{"type": "peer_state", "state": state}
	if state == "connected" {
		local, remote, addr := selectedPair(l.pc, l.neg.peerHost)
		msg["path"] = pathOf(local, remote)
		s.mu.Lock()
		s.status.Connected, s.status.Candidate, s.status.RemoteCandidate, s.status.RemoteAddress = s.now(), local, remote, addr
		s.status.Path = pathOf(local, remote)
		s.mu.Unlock()
	}
	_ = s.c.Send(msg)
}

// pathOf is the path a selected pair of candidates of these types takes
// (PROTOCOL.md, peer_state): "relay" when either end is a TURN relay,
// "srflx" when either end is a NAT's address (server or peer reflexive:
// the path was punched through a NAT; an end on a host candidate behind
// the NAT is seen by the other as one), "host" when both are addresses of
// the hosts themselves; "" without a pair.
func pathOf(local, remote string) string {
	switch {
	case local == "" || remote == "":
		return ""
	case local == "relay" || remote == "relay":
		return "relay"
	case local == "srflx" || local == "prflx" || remote == "srflx" || remote == "prflx":
		return "srflx"
	}
	return "host"
}

// selectedPair gives the types of the local and the remote candidate of
// pc's selected pair ("host", "srflx", "prflx" or "relay"; "" without
// one) and the remote candidate's address and port.
//
// A peer reflexive remote candidate at an address the peer signaled as a
// host candidate (peerHost) is the host candidate, learnt from a check
// that came before it: it is given as "host".
func selectedPair(pc *webrtc.PeerConnection, peerHost func(address string, port uint16) bool) (local, remote, remoteAddr string) {
	for _, sn := range pc.GetSenders() {
		t := sn.Transport()
		if t == nil {
			continue
		}
		if p, err := t.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil && p.Local != nil && p.Remote != nil {
			remote = p.Remote.Typ.String()
			if p.Remote.Typ == webrtc.ICECandidateTypePrflx && peerHost != nil && peerHost(p.Remote.Address, p.Remote.Port) {
				remote = webrtc.ICECandidateTypeHost.String()
			}
			return p.Local.Typ.String(), remote, net.JoinHostPort(p.Remote.Address, strconv.Itoa(int(p.Remote.Port)))
		}
	}
	return "", "", ""
}
