package loadtest

// A client asked to move (signaling/PROTOCOL.md, "Moving"): its node is
// going away, and it moves make before break. It opens a new session,
// publishes again, waits until the new session receives media (CatchUp),
// lets the others' subscriptions to its new tracks settle (MoveLinger),
// and only then leaves the old session.

import (
	"context"
	"time"
)

// Move is the server's request that the client move to another node.
type Move struct {
	At time.Time // when the client received it
	// TimeLeft is how long the node keeps the old session; zero when
	// the server did not say.
	TimeLeft time.Duration
}

// MoveSettle bounds how long a moving client waits for media on its new
// session (CatchUp) before it leaves the old one anyway.
const MoveSettle = 5 * time.Second

// MoveLinger is how long a moving client keeps its old session once the
// new one has caught up: the others receive its new tracks only after a
// renegotiation of their own and a keyframe, and until then they still
// see and hear it through the old session.
const MoveLinger = time.Second

// flowingWindow is how recent a track's last packet must be for the
// track to count as flowing.
const flowingWindow = time.Second

// OnMove sets fn to be told once when the server asks the client to move
// (a move message), unless Close was called. If it asked already, fn is
// called at once. fn runs on the client's reader goroutine (or the
// caller's): it must not block, nor call Close.
func (c *Client) OnMove(fn func(Move)) {
	c.endMu.Lock()
	mv := c.move
	if mv == nil {
		c.onMove = fn
	}
	c.endMu.Unlock()
	if mv != nil && !c.isClosing() {
		fn(*mv)
	}
}

// moved records the server's first move and tells the OnMove function.
// The reader calls it.
func (c *Client) moved(mv Move) {
	c.endMu.Lock()
	if c.move != nil {
		c.endMu.Unlock()
		return
	}
	c.move = &mv
	fn := c.onMove
	c.onMove = nil
	c.endMu.Unlock()
	if fn != nil && !c.isClosing() {
		fn(mv)
	}
}

// hasEnded reports whether the connection to the server has ended.
func (c *Client) hasEnded() bool {
	c.endMu.Lock()
	defer c.endMu.Unlock()
	return c.ended
}

// flowing counts the tracks c received a packet on within flowingWindow
// of now, leaving out those of participant skip.
func (c *Client) flowing(skip string, now time.Time) int {
	n := 0
	for _, tc := range c.Received() {
		if !tc.Ended && tc.ParticipantID != skip && !tc.Last.IsZero() && now.Sub(tc.Last) < flowingWindow {
			n++
		}
	}
	return n
}

// CatchUp waits until c receives media on as many tracks as old does,
// or until MoveSettle has passed or ctx ends, and reports whether it got
// there. The tracks of old's own participant, which the nodes relay to c
// while both sessions are in the room, do not count. A client moving
// make before break calls it on its new session before it leaves old.
func (c *Client) CatchUp(ctx context.Context, old *Client) bool {
	want := old.flowing("", time.Now())
	settle := time.NewTimer(MoveSettle)
	defer settle.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.flowing(old.Self.ID, time.Now()) >= want {
			return true
		}
		select {
		case <-tick.C:
		case <-settle.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
