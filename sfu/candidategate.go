package sfu

import (
	"sync"

	"github.com/pion/webrtc/v4"
)

// candidateGate holds a connection's local ICE candidates until the
// description they belong to has been sent: pion gathers as soon as the
// local description is set, before the caller had a chance to send it, and
// a client cannot use a candidate for a description it has not seen.
type candidateGate struct {
	mu   sync.Mutex // guards open and held
	open bool
	held []webrtc.ICECandidateInit
}

// add sends c through send if the gate is open, or holds it.
func (g *candidateGate) add(c webrtc.ICECandidateInit, send func(webrtc.ICECandidateInit)) {
	g.mu.Lock()
	if !g.open {
		g.held = append(g.held, c)
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	send(c)
}

// close holds candidates again until the next release: a renegotiation
// that restarts ICE gathers the new generation's candidates before its
// description is sent.
func (g *candidateGate) close() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
}

// release opens the gate and sends what it held, in order.
func (g *candidateGate) release(send func(webrtc.ICECandidateInit)) {
	g.mu.Lock()
	held := g.held
	g.held = nil
	g.open = true
	g.mu.Unlock()
	for _, c := range held {
		send(c)
	}
}
