package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// remoteSession is a session this node relays to the node that serves
// it: the client's WebSocket is here, its media and its participant there.
type remoteSession struct {
	b    *Backend
	id   string
	host string
	room string
	sink sfu.EventSink

	mu    sync.Mutex // guards next and ended
	next  uint64     // the Seq of the event expected next
	ended bool
}

// joinRemote joins the session on host. When host does not hold the room
// it names the node that does, and nothing was joined.
func (b *Backend) joinRemote(ctx context.Context, host, room string, who sfu.Identity, sink sfu.EventSink, span bool) (signaling.Session, string, error) {
	s := &remoteSession{b: b, id: newSessionID(), host: host, room: room, sink: sink, next: 1}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, "", sfu.ErrClosed
	}
	b.remote[s.id] = s
	b.mu.Unlock()
	res, err := b.request(ctx, host, envelope{Kind: kindCall, Session: s.id, Method: callJoin, Room: room, Who: &who, Span: span})
	if err != nil {
		// The join may still land after the timeout: the close follows it.
		s.end("", true)
		return nil, "", err
	}
	if res.Full {
		s.end("", false)
		return nil, "", errFull
	}
	if res.Redirect != "" || res.Code != "" {
		s.end("", false)
		return nil, res.Redirect, resultError(res)
	}
	return s, "", nil
}

// deliver passes one of the session's events to the client. A missing
// event (the bus lost it) ends the session: the client rejoins rather
// than carry on with a wrong picture of the room.
func (s *remoteSession) deliver(env envelope) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	inOrder := env.Seq == s.next
	s.next++
	s.mu.Unlock()
	if !inOrder {
		s.b.log.Warn("relayed session lost an event; ending it", "session", s.id, "host", s.host, "want", s.next-1, "got", env.Seq)
		s.end("shutdown", true)
		return
	}
	ev, err := sfu.UnmarshalEvent(env.Event)
	if err != nil {
		s.b.log.Warn("bad event from the serving node; ending the session", "session", s.id, "host", s.host, "err", err)
		s.end("shutdown", true)
		return
	}
	s.sink.Send(ev)
}

// end ends the session once: it is forgotten, the client is told bye
// with reason (none when reason is ""), and the serving node is told when
// tellHost is set.
func (s *remoteSession) end(reason string, tellHost bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.mu.Unlock()
	s.b.mu.Lock()
	delete(s.b.remote, s.id)
	s.b.mu.Unlock()
	if reason != "" {
		s.sink.Send(sfu.Bye{Reason: reason})
	}
	if tellHost {
		s.b.post(s.host, envelope{Kind: kindClose, Session: s.id})
	}
}

func (s *remoteSession) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// call runs one Session call on the serving node. A node that does not
// answer in time is taken for gone: the session ends and the client
// rejoins.
func (s *remoteSession) call(env envelope) error {
	if s.isEnded() {
		return sfu.ErrClosed
	}
	env.Kind, env.Session = kindCall, s.id
	ctx, cancel := context.WithTimeout(s.b.ctx, s.b.cfg.CallTimeout)
	defer cancel()
	res, err := s.b.request(ctx, s.host, env)
	if err != nil {
		s.b.log.Warn("relayed call failed; ending the session", "session", s.id, "host", s.host, "call", env.Method, "err", err)
		s.end("shutdown", true)
		return fmt.Errorf("%w: %v", sfu.ErrClosed, err)
	}
	return resultError(res)
}

// HandleOffer implements signaling.Session.
func (s *remoteSession) HandleOffer(sdp string, sources sfu.Sources) error {
	return s.call(envelope{Method: callOffer, SDP: sdp, Sources: sources})
}

// HandleAnswer implements signaling.Session.
func (s *remoteSession) HandleAnswer(sdp string) error {
	return s.call(envelope{Method: callAnswer, SDP: sdp})
}

// AddCandidate implements signaling.Session.
func (s *remoteSession) AddCandidate(t sfu.Target, c webrtc.ICECandidateInit) error {
	return s.call(envelope{Method: callCandidate, Target: t, Candidate: &c})
}

// SetMuted implements signaling.Session.
func (s *remoteSession) SetMuted(kind string, muted bool) error {
	return s.call(envelope{Method: callMute, MediaKind: kind, Muted: muted})
}

// SetMaxLayer implements signaling.Session.
func (s *remoteSession) SetMaxLayer(trackID string, layer int) error {
	return s.call(envelope{Method: callLayer, TrackID: trackID, Layer: layer})
}

// RestartICE implements signaling.Session.
func (s *remoteSession) RestartICE(t sfu.Target) error {
	return s.call(envelope{Method: callRestart, Target: t})
}

// Close implements signaling.Session.
// SignalPeer implements signaling.Session.
func (s *remoteSession) SignalPeer(p sfu.PeerSignal) error {
	return s.call(envelope{Method: callPeer, PeerKind: p.Kind, SDP: p.SDP, Candidate: p.Candidate})
}

// ReportPeer implements signaling.Session.
func (s *remoteSession) ReportPeer(st sfu.PeerState) error {
	return s.call(envelope{Method: callPeerState, PeerState: st})
}

func (s *remoteSession) Close() { s.end("", true) }
