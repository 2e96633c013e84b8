package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/sfu-project/sfu/sfu"
)

// Draining a node, make before break: the node leaves placement and
// releases its claims on the rooms it hosts, but goes on serving their
// participants. A client that opens a new session through a live node
// then has the room placed there (the claim is free), and the two nodes
// relay the room between them as any room spanning nodes: for as long as
// the client keeps both sessions, everybody sees and hears everybody.
// The client leaves its old session once the new one receives media;
// when the last one has left, the room is gone from the node.

// Drain takes the node out of placement and hands its rooms over: it
// announces the node as draining and releases its claims, so that the
// next join of each room places it on a live node, while this node goes
// on serving (and relaying) the sessions it has. From then on joins here
// are refused with sfu.ErrDraining. The sessions are for the caller to
// move (Move) or end (EndServed, and its own WebSockets).
func (b *Backend) Drain(ctx context.Context) error {
	if b.draining.Swap(true) {
		return nil
	}
	err := b.store.Registry.Announce(ctx, b.info(), b.cfg.TTL)
	b.mu.Lock()
	rooms := make([]*hostedRoom, 0, len(b.hosted))
	for _, r := range b.hosted {
		r.refs++
		rooms = append(rooms, r)
	}
	b.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		if r.sessions.Load() > 0 {
			// Served beside the next host from now on: renewed with
			// Serve, never claimed again (reassertRoom).
			r.spanning = true
			if rerr := b.store.Directory.Release(ctx, r.name, b.cfg.NodeID); rerr != nil && err == nil {
				err = rerr
			}
		}
		r.mu.Unlock()
		b.exitRoom(r)
	}
	if err != nil {
		return fmt.Errorf("cluster: drain node %s: %w", b.cfg.NodeID, err)
	}
	return nil
}

// CanMove reports whether a live node other than this one takes
// participants, so that clients asked to move have somewhere to go.
func (b *Backend) CanMove(ctx context.Context) bool {
	nodes, err := b.store.Registry.Nodes(ctx)
	if err != nil {
		b.log.Warn("cannot list the nodes; clients are not asked to move", "err", err)
		return false
	}
	for _, n := range nodes {
		if n.ID != b.cfg.NodeID && HasRoom(n) {
			return true
		}
	}
	return false
}

// Move asks the clients of the sessions served here for other front
// doors to move (sfu.Move, relayed to their WebSockets): the node ends
// what is left of them after left. The clients whose WebSocket is on
// this node are the caller's to ask.
func (b *Backend) Move(left time.Duration) {
	for _, s := range b.servedSessions() {
		s.Send(sfu.Move{TimeLeft: left})
	}
}

// EndServed ends the sessions served here for other front doors, whose
// clients are told to rejoin (bye "shutdown").
func (b *Backend) EndServed() {
	for _, s := range b.servedSessions() {
		s.stop()
	}
}

// servedSessions lists the sessions served here for other front doors.
func (b *Backend) servedSessions() []*servedSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	served := make([]*servedSession, 0, len(b.served))
	for _, s := range b.served {
		served = append(served, s)
	}
	return served
}
