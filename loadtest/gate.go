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

// close holds candidates again until the next release: an ICE restart
// gathers anew before its description is sent.
func (g *gate) close() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
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
