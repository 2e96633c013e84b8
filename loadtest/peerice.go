package loadtest

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// useICEServers keeps the joined message's STUN/TURN servers for the
// peer connections the client opens from now on. The reader calls it
// before it hands the peer loop a peer_start.
func (s *peerSide) useICEServers(servers []webrtc.ICEServer) {
	s.mu.Lock()
	s.iceServers = servers
	s.mu.Unlock()
}

// configuration is a new peer connection's: the joined message's servers
// (Options.ICE.FromJoined) with the client's ICE transport policy.
func (s *peerSide) configuration() webrtc.Configuration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return webrtc.Configuration{ICEServers: s.iceServers, ICETransportPolicy: s.c.opts.ICE.Policy}
}

// noteNegotiation copies l's negotiation counters into the status.
func (s *peerSide) noteNegotiation(l *peerLink) {
	s.mu.Lock()
	s.status.Ignored, s.status.ICERestarts = l.neg.ignored, l.neg.restarts
	s.mu.Unlock()
}

// sdpUfrag is the first ICE username fragment of a session description,
// which an ICE restart changes.
func sdpUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
