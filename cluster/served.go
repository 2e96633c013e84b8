package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// servedQueue bounds the calls waiting for one served session; a front
// door that sends more is not waiting for results, and loses the session.
const servedQueue = 64

// servedSession is a session served here for a client whose WebSocket is
// on another node (the front door). It is the participant's EventSink:
// events go back to the front door, numbered, through its outbox.
type servedSession struct {
	b    *Backend
	key  string // front/session
	from string // the front door
	id   string

	work chan envelope // calls and the close, in order, run by run
	quit chan struct{} // closed to end the session from here
	stop func()        // closes quit once
	// sendMu orders numbering an event and queueing it: the SFU sends
	// from several goroutines (and a draining node sends Move from its
	// own), and the front door takes an event out of order for a lost
	// one. The queueing under it never waits (offer); it takes
	// Backend.mu, after sendMu.
	sendMu sync.Mutex
	seq    uint64      // the last event's number; guarded by sendMu
	done   atomic.Bool // no more events are sent
}

// servedFor returns the served session a call from a front door is for,
// creating it for a join; nil when there is none (any more).
func (b *Backend) servedFor(env envelope) *servedSession {
	key := env.From + "/" + env.Session
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.served[key]; s != nil || env.Method != callJoin || b.closed {
		return s
	}
	s := &servedSession{b: b, key: key, from: env.From, id: env.Session,
		work: make(chan envelope, servedQueue), quit: make(chan struct{})}
	s.stop = sync.OnceFunc(func() { close(s.quit) })
	b.served[key] = s
	b.servedWG.Add(1)
	go s.run()
	return s
}

// enqueue hands a call or close to the session's goroutine without
// waiting.
func (s *servedSession) enqueue(env envelope) {
	select {
	case s.work <- env:
	default:
		s.b.log.Warn("front door floods a relayed session; ending it", "session", s.id, "from", s.from)
		s.stop()
	}
}

// Send implements sfu.EventSink. It never blocks: when the front door's
// outbox is full the session is ended instead.
func (s *servedSession) Send(ev sfu.Event) {
	if s.done.Load() {
		return
	}
	s.sendMu.Lock()
	s.seq++
	env := envelope{Kind: kindEvent, Session: s.id, Seq: s.seq}
	queued := s.b.offer(s.from, outMsg{env: env, ev: ev})
	s.sendMu.Unlock()
	if !queued {
		s.b.log.Warn("front door's outbox is full; ending a relayed session", "session", s.id, "from", s.from)
		s.stop()
	}
}

// run applies the session's calls in order until it is closed by the
// front door, ended here, or the backend closes.
func (s *servedSession) run() {
	defer s.b.servedWG.Done()
	var session signaling.Session
	defer func() {
		s.done.Store(true)
		if session != nil {
			session.Close()
		}
		s.b.mu.Lock()
		delete(s.b.served, s.key)
		s.b.mu.Unlock()
	}()
	for {
		select {
		case <-s.quit:
			s.b.post(s.from, envelope{Kind: kindClose, Session: s.id})
			return
		case <-s.b.ctx.Done():
			return
		case env := <-s.work:
			if env.Kind == kindClose {
				return
			}
			res := envelope{Kind: kindResult, Session: s.id, Call: env.Call}
			if env.Method == callJoin {
				if session != nil {
					res.failed(sfu.ErrNotAllowed)
				} else {
					session = s.join(env, &res)
				}
			} else {
				res.failed(s.apply(session, env))
			}
			s.b.post(s.from, res)
			if env.Method == callJoin && session == nil {
				return // refused or redirected: nothing to serve
			}
		}
	}
}

func (s *servedSession) join(env envelope, res *envelope) signaling.Session {
	if env.Who == nil || env.Room == "" {
		res.failed(sfu.ErrNotAllowed)
		return nil
	}
	ctx, cancel := context.WithTimeout(s.b.ctx, s.b.cfg.CallTimeout)
	defer cancel()
	session, redirect, err := s.b.joinHere(ctx, env.Room, *env.Who, s, env.Span)
	res.Redirect = redirect
	if errors.Is(err, errFull) {
		res.Full = true
		return nil
	}
	res.failed(err)
	return session
}

// apply runs one Session call.
func (s *servedSession) apply(session signaling.Session, env envelope) error {
	if session == nil {
		return sfu.ErrClosed
	}
	switch env.Method {
	case callOffer:
		return session.HandleOffer(env.SDP, env.Sources)
	case callAnswer:
		return session.HandleAnswer(env.SDP)
	case callCandidate:
		if env.Candidate == nil {
			return sfu.ErrBadCandidate
		}
		return session.AddCandidate(env.Target, *env.Candidate)
	case callMute:
		return session.SetMuted(env.MediaKind, env.Muted)
	case callLayer:
		return session.SetMaxLayer(env.TrackID, env.Layer)
	case callPeer:
		return session.SignalPeer(sfu.PeerSignal{Kind: env.PeerKind, SDP: env.SDP, Candidate: env.Candidate})
	case callPeerState:
		return session.ReportPeer(env.PeerState)
	case callRestart:
		return session.RestartICE(env.Target)
	default:
		return sfu.ErrNotAllowed
	}
}
