package sfu

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// HandleOffer applies the client's offer for its publisher connection and
// sends the answer through the EventSink. Candidates the server does not
// admit (see remoteCandidates) are removed from the offer first; when some
// were over the limit, the offer is applied without them and HandleOffer
// returns ErrBadCandidate after sending the answer. sources names the
// source of the offer's tracks by mid (nil: none named); a mid not named
// keeps the source given before, or its kind's default (see mergeSources).
func (p *Participant) HandleOffer(sdpText string, sources Sources) error {
	parsed, err := precheckOffer(sdpText)
	if err != nil {
		return err
	}
	// A data-only offer publishes nothing (data.go): it needs no grant.
	if !p.who.Grants.Publish && offersMedia(parsed) {
		return ErrNotAllowed
	}
	return p.do(func() error {
		prev := p.sources // written only here, on the event loop
		merged, err := mergeSources(parsed, prev, sources)
		if err != nil {
			return err
		}
		// Recorded before pion sees the offer, which may start the tracks.
		p.setSources(merged)
		filtered, overLimit := p.admitDescription(TargetPublisher, sdpText)
		offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: filtered}
		// An offer that restarts ICE makes pion gather anew while it
		// answers: hold those candidates until the answer is out.
		p.pubGate.close()
		answer, err := p.applyOffer(offer)
		if err != nil {
			p.setSources(prev)
			err = p.recoverPublisher(err)
			p.pubGate.release(func(c webrtc.ICECandidateInit) { p.sink.Send(Candidate{Target: TargetPublisher, Candidate: c}) })
			return err
		}
		if restarted := p.pubUfrag != "" && p.pubUfrag != p.remote[TargetPublisher].ufrag; restarted {
			p.pubRestarts++
			p.sfu.metrics.ICERestarts.WithLabelValues(string(TargetPublisher)).Inc()
			p.log.Info("publisher connection ICE restart by the client")
		}
		p.pubUfrag = p.remote[TargetPublisher].ufrag
		p.sink.Send(PublisherAnswer{SDP: answer.SDP})
		p.pubGate.release(func(c webrtc.ICECandidateInit) { p.sink.Send(Candidate{Target: TargetPublisher, Candidate: c}) })
		p.flushCandidatesLocked(TargetPublisher)
		return overLimit
	})
}

// precheckOffer parses a publisher offer and refuses, before pion sees
// it, what pion would refuse only after changing the connection's state
// (checkOffer), and more media sections than a participant may publish.
func precheckOffer(sdpText string) (*sdp.SessionDescription, error) {
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(sdpText); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := checkOffer(&parsed); err != nil {
		return nil, err
	}
	if len(parsed.MediaDescriptions) > maxPublishedSections {
		return nil, fmt.Errorf("%w: %d media sections, at most %d", ErrNotAllowed, len(parsed.MediaDescriptions), maxPublishedSections)
	}
	return &parsed, nil
}

// precheckAnswer parses a subscriber answer, so that one that does not
// parse is refused without the event loop.
func precheckAnswer(sdpText string) error {
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(sdpText); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	return nil
}

func (p *Participant) applyOffer(offer webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	if err := p.pub.SetRemoteDescription(offer); err != nil {
		return webrtc.SessionDescription{}, err
	}
	answer, err := p.pub.CreateAnswer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	return answer, p.pub.SetLocalDescription(answer)
}

// recoverPublisher leaves the publisher connection usable after an offer
// was refused. pion may refuse an offer after it has moved to
// have-remote-offer, and it cannot roll back from there: a connection that
// never carried media is replaced by a fresh one; one that does cannot be
// rescued without dropping its tracks, so the client must rejoin.
func (p *Participant) recoverPublisher(cause error) error {
	if p.pub.SignalingState() == webrtc.SignalingStateStable {
		return fmt.Errorf("%w: %v", ErrBadSDP, cause)
	}
	if p.pub.CurrentRemoteDescription() != nil {
		return fmt.Errorf("%w: %v", ErrRejoin, cause)
	}
	old := p.pub
	if err := p.newPublisher(); err != nil {
		return fmt.Errorf("%w: %v", ErrRejoin, err)
	}
	delete(p.pendingCands, TargetPublisher)
	if err := old.Close(); err != nil {
		p.log.Debug("closing refused publisher connection", "err", err)
	}
	return fmt.Errorf("%w: %v", ErrBadSDP, cause)
}

// HandleAnswer applies the client's answer to the outstanding subscriber
// offer. Its candidates are admitted as HandleOffer's are.
func (p *Participant) HandleAnswer(sdpText string) error {
	if err := precheckAnswer(sdpText); err != nil {
		return err
	}
	return p.do(func() error {
		if !p.offerPending {
			return ErrNoOffer
		}
		filtered, overLimit := p.admitDescription(TargetSubscriber, sdpText)
		answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: filtered}
		if err := p.sub.SetRemoteDescription(answer); err != nil {
			// A track the client cannot decode is not offered again; the
			// client is told, and the answer was honest.
			dropped := p.dropUndecodable()
			if p.sub.SignalingState() == webrtc.SignalingStateStable {
				// pion took the answer before refusing it: the offer is no
				// longer outstanding, so make a new one rather than wait
				// forever for an answer that cannot come, unless nothing
				// changed since the last refused one (a client whose
				// answers fail for good gets no offer loop).
				p.offerPending = false
				p.failedAnswers++
				if dropped > 0 || p.failedAnswers < 2 {
					p.negotiate()
				} else {
					p.renegotiate = false
					p.log.Info("subscriber negotiation failed again: no new offer until its tracks change", "err", err)
				}
			}
			if dropped > 0 {
				return nil
			}
			p.log.Info("subscriber negotiation failed", "err", err)
			return fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
		p.failedAnswers = 0
		p.offerPending = false
		p.answeredMLines()
		p.flushCandidatesLocked(TargetSubscriber)
		if p.dropUndecodable() > 0 || p.renegotiate {
			p.negotiate()
		}
		return overLimit
	})
}

// admitDescription removes from a client's description the candidates
// that connection does not admit. The error, if any, says some were over
// the limit. It runs on the event loop.
func (p *Participant) admitDescription(t Target, sdpText string) (string, error) {
	p.remote[t].generation(iceUfrag(sdpText))
	filtered, refused, overLimit := p.remote[t].filterSDP(sdpText)
	if refused > 0 {
		p.log.Debug("remote candidates refused in a description", "target", t, "refused", refused)
	}
	return filtered, overLimit
}

// AddCandidate applies a client ICE candidate to one of the connections.
// Candidates that arrive before their connection has a remote description
// are kept until it has one. A candidate the connection does not admit
// (see remoteCandidates) is refused with ErrBadCandidate, or ignored if it
// is of a kind the server does not use.
func (p *Participant) AddCandidate(t Target, c webrtc.ICECandidateInit) error {
	if t != TargetPublisher && t != TargetSubscriber {
		return fmt.Errorf("%w: unknown target %q", ErrBadCandidate, t)
	}
	return p.do(func() error {
		if c.Candidate != "" { // "" is the end of candidates
			if v, err := p.remote[t].admit(c.Candidate); v != candidateUsed {
				return err
			}
		}
		pc := p.pc(t)
		if pc.RemoteDescription() == nil {
			if len(p.pendingCands[t]) >= 64 {
				return fmt.Errorf("%w: too many candidates before the description", ErrBadCandidate)
			}
			p.pendingCands[t] = append(p.pendingCands[t], c)
			return nil
		}
		if err := pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("%w: %v", ErrBadCandidate, err)
		}
		return nil
	})
}

func (p *Participant) pc(t Target) *webrtc.PeerConnection {
	if t == TargetPublisher {
		return p.pub
	}
	return p.sub
}

// flushCandidatesLocked applies held remote candidates; it runs on the event loop.
func (p *Participant) flushCandidatesLocked(t Target) {
	for _, c := range p.pendingCands[t] {
		if err := p.pc(t).AddICECandidate(c); err != nil {
			p.log.Debug("held candidate refused", "target", t, "err", err)
		}
	}
	delete(p.pendingCands, t)
}

// negotiate sends a new subscriber offer, or marks that one is needed once
// the outstanding offer is answered. It runs on the event loop.
func (p *Participant) negotiate() {
	if p.offerPending {
		p.renegotiate = true
		return
	}
	p.renegotiate = false
	restart := p.subRestart
	p.subRestart = false
	// A restart gathers the new generation's candidates as soon as the
	// offer is set: hold them until the offer is out.
	p.subGate.close()
	offer, err := p.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		p.subGate.release(func(c webrtc.ICECandidateInit) { p.sink.Send(Candidate{Target: TargetSubscriber, Candidate: c}) })
		if errors.Is(err, webrtc.ErrConnectionClosed) {
			// The client closed its end, and its departure is on the way:
			// at the end of a session every track it received goes.
			p.log.Debug("no subscriber offer: the connection is closed", "err", err)
			return
		}
		p.log.Warn("subscriber offer failed", "err", err)
		return
	}
	p.offerPending = true
	p.offersMade++
	if restart {
		p.subRestarted = p.sfu.now()
		p.subRestarts++
		p.sfu.metrics.ICERestarts.WithLabelValues(string(TargetSubscriber)).Inc()
		p.log.Info("subscriber connection ICE restart", "state", p.sub.ConnectionState().String())
	}
	p.sfu.metrics.SubscriberOffersOut.Inc()
	p.sink.Send(SubscriberOffer{SDP: offer.SDP})
	p.subGate.release(func(c webrtc.ICECandidateInit) { p.sink.Send(Candidate{Target: TargetSubscriber, Candidate: c}) })
}

// checkOffer refuses what pion would refuse only after moving the
// connection to have-remote-offer, from which it cannot roll back.
func checkOffer(d *sdp.SessionDescription) error {
	need := func(key string, m *sdp.MediaDescription) bool {
		if _, ok := d.Attribute(key); ok {
			return true
		}
		_, ok := m.Attribute(key)
		return ok
	}
	for _, m := range d.MediaDescriptions {
		if _, ok := m.Attribute("mid"); !ok {
			return fmt.Errorf("%w: media section without mid", ErrBadSDP)
		}
		for _, key := range []string{"ice-ufrag", "ice-pwd", "fingerprint"} {
			if !need(key, m) {
				return fmt.Errorf("%w: no %s", ErrBadSDP, key)
			}
		}
	}
	return nil
}

// restartSubscriber restarts ICE on the subscriber connection, which the
// server offers: its side saw the connection go disconnected or failed
// (the client's network changed, say). A restart that finds an offer
// outstanding is made with the next offer, once the client has answered.
// It runs on the event loop.
func (p *Participant) restartSubscriber() {
	switch p.sub.ConnectionState() {
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
	default:
		return // it came back, or is closed
	}
	if p.sub.CurrentRemoteDescription() == nil {
		return // never negotiated: nothing to restart
	}
	p.subRestart = true
	p.negotiate()
}

// restartInterval is the least time between two ICE restarts of a
// subscriber connection that its client asks for.
const restartInterval = 2 * time.Second

// RestartICE restarts ICE on the subscriber connection at the client's
// request: the client often notices a dead path (or a network change)
// before the server does. A request while a restart is waiting for the
// outstanding offer's answer, or within restartInterval of the previous
// restart, is granted by that one and changes nothing. The publisher
// connection's ICE is restarted by the client's own offer: asking for it,
// for an unknown target, or before the subscriber connection was ever
// negotiated is refused with ErrNotAllowed.
func (p *Participant) RestartICE(t Target) error {
	switch t {
	case TargetSubscriber:
	case TargetPublisher:
		return fmt.Errorf("%w: the client restarts the publisher connection itself, with an offer made with iceRestart", ErrNotAllowed)
	default:
		return fmt.Errorf("%w: unknown target %q for an ICE restart", ErrNotAllowed, t)
	}
	return p.do(func() error {
		if p.sub.CurrentRemoteDescription() == nil {
			return fmt.Errorf("%w: no ICE restart before the subscriber connection was negotiated", ErrNotAllowed)
		}
		if p.subRestart || !p.subRestarted.IsZero() && p.sfu.now().Sub(p.subRestarted) < restartInterval {
			return nil
		}
		p.subRestart = true
		p.negotiate()
		return nil
	})
}

// askPublisherRestart asks the client for an ICE restart of the publisher
// connection pub, which the client offers, when the server's side of it
// went disconnected or failed: the client's side may still look
// connected (the client's packets reach the server from its new address,
// the server's go to the old one). At most once per restartInterval. It
// runs on the event loop.
func (p *Participant) askPublisherRestart(pub *webrtc.PeerConnection) {
	if pub != p.pub || pub.CurrentRemoteDescription() == nil {
		return // replaced, or never negotiated
	}
	switch pub.ConnectionState() {
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
	default:
		return
	}
	if now := p.sfu.now(); p.pubAsked.IsZero() || now.Sub(p.pubAsked) >= restartInterval {
		p.pubAsked = now
		p.log.Info("publisher connection disconnected: asking the client for an ICE restart", "state", pub.ConnectionState().String())
		p.sink.Send(RestartRequest{Target: TargetPublisher})
	}
}
