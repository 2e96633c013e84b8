package loadtest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"
)

// negotiator negotiates a peer connection through the server, resolving
// crossing offers as "perfect negotiation" does (WebRTC 1.0, section
// 10.7; signaling/PROTOCOL.md, "Glare"): the impolite side ignores the
// other's offer, and the candidates that came with it, and waits for the
// answer to its own.
//
// The polite side would roll its own offer back and answer, but pion
// cannot roll an offer back (pion/webrtc#2133): so a polite negotiator
// makes no offers (ErrPoliteOffer), and its offers cannot cross. The
// impolite side makes the first offer and the ICE restarts, as the
// protocol has it; a browser on the polite side may offer, and is
// ignored when that crosses one of ours.
//
// Its methods are called from one goroutine, the peer loop, so that a
// description is set and sent before anything else happens on the
// connection.
type negotiator struct {
	pc     *webrtc.PeerConnection
	polite bool
	// send sends a message about the peer connection to the server.
	send func(msg any) error

	pending  []webrtc.ICECandidateInit // remote candidates before a remote description
	ignoring bool                      // the peer's latest offer was ignored
	// again: an offer was asked for while one was under way; make it
	// once that is answered (with new ICE credentials if againRestart).
	again, againRestart bool
	ignored             int // the peer's offers ignored
	restarts            int // ICE restarts offered or answered

	hostsMu sync.Mutex
	hosts   map[string]bool // "ip port" of the host candidates the peer trickled
}

// noteHost records c's address if it is a host candidate.
func (n *negotiator) noteHost(c string) {
	if addr, ok := hostCandidate(c); ok {
		n.hostsMu.Lock()
		if n.hosts == nil {
			n.hosts = map[string]bool{}
		}
		n.hosts[addr] = true
		n.hostsMu.Unlock()
	}
}

// peerHost reports whether the peer signaled a host candidate at
// address:port, trickled or in its description.
func (n *negotiator) peerHost(address string, port uint16) bool {
	addr := address + " " + strconv.Itoa(int(port))
	n.hostsMu.Lock()
	known := n.hosts[addr]
	n.hostsMu.Unlock()
	if known {
		return true
	}
	if d := n.pc.RemoteDescription(); d != nil {
		for _, line := range strings.Split(d.SDP, "\n") {
			if c, ok := strings.CutPrefix(strings.TrimSpace(line), "a="); ok {
				if a, ok := hostCandidate(c); ok && a == addr {
					return true
				}
			}
		}
	}
	return false
}

// hostCandidate gives "ip port" of a host candidate's attribute value
// ("candidate:... typ host ...").
func hostCandidate(c string) (string, bool) {
	f := strings.Fields(strings.TrimPrefix(c, "a="))
	if len(f) < 8 || !strings.HasPrefix(f[0], "candidate:") || f[6] != "typ" || f[7] != "host" {
		return "", false
	}
	return f[4] + " " + f[5], true
}

// offer makes and sends an offer, with new ICE credentials if iceRestart.
func (n *negotiator) offer(iceRestart bool) error {
	if n.polite {
		return ErrPoliteOffer
	}
	if n.pc.SignalingState() != webrtc.SignalingStateStable {
		n.again, n.againRestart = true, n.againRestart || iceRestart
		return nil
	}
	o, err := n.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		return err
	}
	if err := n.pc.SetLocalDescription(o); err != nil {
		return err
	}
	if iceRestart {
		n.restarts++
	}
	return n.send(map[string]any{"type": "offer", "target": "peer", "sdp": o.SDP})
}

// remote applies an offer, answer or candidate relayed from the peer.
func (n *negotiator) remote(m Message) error {
	switch m.Type {
	case "offer":
		return n.remoteOffer(m.SDP)
	case "answer":
		if n.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			return nil // not to an offer of ours under way
		}
		if err := n.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			return err
		}
		n.flush()
		if !n.again {
			return nil
		}
		restart := n.againRestart
		n.again, n.againRestart = false, false
		return n.offer(restart)
	case "candidate":
		if m.Candidate == nil || m.Candidate.Candidate == "" {
			return nil
		}
		n.noteHost(m.Candidate.Candidate)
		if n.pc.RemoteDescription() == nil {
			n.pending = append(n.pending, *m.Candidate)
			return nil
		}
		if err := n.pc.AddICECandidate(*m.Candidate); err != nil && !n.ignoring {
			return err
		}
	}
	return nil
}

func (n *negotiator) remoteOffer(sdp string) error {
	collision := n.pc.SignalingState() != webrtc.SignalingStateStable
	if collision && n.polite {
		// Cannot happen: a polite negotiator makes no offers.
		return fmt.Errorf("loadtest: an offer in signaling state %v", n.pc.SignalingState())
	}
	n.ignoring = collision
	if n.ignoring {
		n.ignored++
		return nil
	}
	if prev := n.pc.RemoteDescription(); prev != nil && sdpUfrag(prev.SDP) != sdpUfrag(sdp) {
		n.restarts++
	}
	if err := n.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	n.flush()
	a, err := n.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := n.pc.SetLocalDescription(a); err != nil {
		return err
	}
	return n.send(map[string]any{"type": "answer", "target": "peer", "sdp": a.SDP})
}

func (n *negotiator) flush() {
	for _, c := range n.pending {
		_ = n.pc.AddICECandidate(c)
	}
	n.pending = nil
}
