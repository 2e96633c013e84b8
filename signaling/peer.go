package signaling

// Peer to peer for two (PROTOCOL.md): the client's messages about its
// peer connection, checked and handed to the session, which relays them
// to the other end; and the wire form of the events about it.

import (
	"fmt"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
)

// targetPeer is the target of messages about the peer connection.
const targetPeer = "peer"

// maxPeerCandidates bounds the candidates a client relays over one peer
// connection: a browser gathers a handful per interface and ICE server.
const maxPeerCandidates = 32

var peerStates = map[string]sfu.PeerState{
	"connecting": sfu.PeerConnecting,
	"connected":  sfu.PeerConnected,
	"failed":     sfu.PeerFailed,
	"closed":     sfu.PeerClosed,
}

// signalPeer checks an offer, answer or candidate for the peer connection
// and relays it: a description must parse as SDP and a candidate as a
// candidate, since the other client would choke on it rather than us.
func (c *conn) signalPeer(m *inbound) error {
	s := sfu.PeerSignal{Kind: m.Type}
	switch m.Type {
	case "offer", "answer":
		typ := webrtc.SDPTypeOffer
		if m.Type == "answer" {
			typ = webrtc.SDPTypeAnswer
		}
		if strings.TrimSpace(m.SDP) == "" {
			return fmt.Errorf("%w: no sdp", sfu.ErrBadSDP)
		}
		desc := webrtc.SessionDescription{Type: typ, SDP: m.SDP}
		if _, err := desc.Unmarshal(); err != nil {
			return fmt.Errorf("%w: %v", sfu.ErrBadSDP, err)
		}
		s.SDP = m.SDP
	case "candidate":
		if m.Candidate == nil {
			return fmt.Errorf("%w: no candidate", sfu.ErrBadCandidate)
		}
		if m.Candidate.Candidate != "" { // "" is the end of candidates
			if _, err := ice.UnmarshalCandidate(m.Candidate.Candidate); err != nil {
				return fmt.Errorf("%w: %v", sfu.ErrBadCandidate, err)
			}
			if c.peerCandidates.Add(1) > maxPeerCandidates {
				return fmt.Errorf("%w: over the limit of %d candidates on the peer connection", sfu.ErrBadCandidate, maxPeerCandidates)
			}
		}
		cand := *m.Candidate
		s.Candidate = &cand
	}
	return c.session.SignalPeer(s)
}

// reportPeer hands the client's report on its peer connection over.
func (c *conn) reportPeer(m *inbound) error {
	st, ok := peerStates[m.State]
	if !ok {
		c.refuse(CodeBadMessage, fmt.Sprintf("state %q is not one of connecting, connected, failed, closed", truncateUTF8(m.State, 32)), m.Type)
		return nil
	}
	err := c.session.ReportPeer(st)
	switch {
	case err != nil:
	case st == sfu.PeerConnected || st == sfu.PeerFailed:
		// One line per call and side: whether calls go direct, and how.
		c.log.Info("peer connection", "state", m.State, "path", truncateUTF8(m.Path, 16))
	default:
		c.log.Debug("peer connection", "state", m.State)
	}
	return err
}

type peerStartMsg struct {
	Type   string `json:"type"`
	PeerID string `json:"peerId"`
	Polite bool   `json:"polite"`
}

type modeMsg struct {
	Type   string `json:"type"`
	Mode   string `json:"mode"`
	PeerID string `json:"peerId,omitempty"`
	Reason string `json:"reason"`
}

type peerEndMsg struct {
	Type   string `json:"type"`
	PeerID string `json:"peerId"`
	Reason string `json:"reason"`
}

type peerSDPMsg struct {
	Type   string `json:"type"`
	Target string `json:"target"`
	From   string `json:"from"`
	SDP    string `json:"sdp"`
}

type peerCandidateMsg struct {
	Type      string                   `json:"type"`
	Target    string                   `json:"target"`
	From      string                   `json:"from"`
	Candidate *webrtc.ICECandidateInit `json:"candidate"`
}

// peerMessage is the wire form of a peer-to-peer event, nil for another
// event.
func peerMessage(ev sfu.Event) any {
	switch ev := ev.(type) {
	case sfu.PeerStart:
		return peerStartMsg{Type: "peer_start", PeerID: ev.PeerID, Polite: ev.Polite}
	case sfu.PeerMode:
		return modeMsg{Type: "mode", Mode: ev.Mode, PeerID: ev.PeerID, Reason: ev.Reason}
	case sfu.PeerEnd:
		return peerEndMsg{Type: "peer_end", PeerID: ev.PeerID, Reason: ev.Reason}
	case sfu.PeerSignal:
		if ev.Kind == "candidate" {
			return peerCandidateMsg{Type: "candidate", Target: targetPeer, From: ev.From, Candidate: ev.Candidate}
		}
		return peerSDPMsg{Type: ev.Kind, Target: targetPeer, From: ev.From, SDP: ev.SDP}
	}
	return nil
}
