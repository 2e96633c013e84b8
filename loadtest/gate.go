package loadtest

import (
	"sync"

	"github.com/pion/webrtc/v4"
)

// gate holds local ICE candidates until the description they belong to
// has been sent.
type gate struct {
	mu   sync.Mutex // guards open and held
	open bool
	held []webrtc.ICECandidateInit
}

func (g *gate) add(c webrtc.ICECandidateInit, send func(webrtc.ICECandidateInit)) {
	g.mu.Lock()
	if !g.open {
		g.held = append(g.held, c)
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	send(c)
}

func (g *gate) release(send func(webrtc.ICECandidateInit)) {
	g.mu.Lock()
	held := g.held
	g.held, g.open = nil, true
	g.mu.Unlock()
	for _, c := range held {
		send(c)
	}
}
