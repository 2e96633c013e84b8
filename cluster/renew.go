package cluster

import (
	"context"
	"fmt"
	"time"
)

// restoreEvery is how many rounds pass between two in which the node
// records its members again whatever happened (30 s by default).
const restoreEvery = 15

// renewLoop renews the node's registry entry and its rooms every
// Announce, and ends the sessions that depend on nodes found gone.
func (b *Backend) renewLoop() {
	t := time.NewTicker(b.cfg.Announce)
	defer t.Stop()
	healthy, round := true, 0
	for {
		select {
		case <-b.renewCtx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		// After a failed round the shared state may have lost what this
		// node put there: record it again. Redis may also restart empty
		// between two rounds without any call failing, hence a full
		// round now and then.
		round++
		err := b.renew(!healthy || round%restoreEvery == 0)
		switch {
		case err != nil && healthy:
			b.log.Warn("shared state unreachable; calls in running rooms go on", "err", err)
		case err == nil && !healthy:
			b.log.Info("shared state reachable again; the node's rooms are recorded again")
		}
		healthy = err == nil
	}
}

// kickRenew asks for a round now, without waiting.
func (b *Backend) kickRenew() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// renew runs one round and says why it could not reach the shared
// state. When it cannot, nothing is concluded about other nodes: calls in
// running rooms go on.
func (b *Backend) renew(restore bool) error {
	ctx, cancel := context.WithTimeout(b.renewCtx, b.cfg.CallTimeout)
	defer cancel()
	if err := b.store.Registry.Announce(ctx, b.info(), b.cfg.TTL); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	if err := b.reassert(ctx, restore); err != nil {
		return fmt.Errorf("renew rooms: %w", err)
	}
	nodes, err := b.store.Registry.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	live := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		live[n.ID] = true
	}
	b.dropGone(b.goneNodes(live))
	b.ensureRelays(ctx, b.openRooms(), live)
	return nil
}

// goneNodes is the set of nodes this node deals with (sessions, outboxes)
// that are missing from live and were missing at the previous round too:
// right after Redis restarted empty, the registry fills again only as
// each node announces itself, and one round's absence proves nothing.
// Only renewLoop's goroutine calls it.
func (b *Backend) goneNodes(live map[string]bool) map[string]bool {
	b.mu.Lock()
	known := make(map[string]bool)
	for _, s := range b.remote {
		known[s.host] = true
	}
	for _, s := range b.served {
		known[s.from] = true
	}
	for to := range b.outboxes {
		known[to] = true
	}
	b.mu.Unlock()
	gone := make(map[string]bool)
	absent := make(map[string]bool)
	for id := range known {
		if !live[id] {
			absent[id] = true
			if b.absent[id] {
				gone[id] = true
			}
		}
	}
	b.absent = absent
	return gone
}

// dropGone ends the sessions relayed to, or served for, the nodes in
// gone, and stops their outboxes.
func (b *Backend) dropGone(gone map[string]bool) {
	if len(gone) == 0 {
		return
	}
	var remote []*remoteSession
	var served []*servedSession
	var outboxes []string
	b.mu.Lock()
	for _, s := range b.remote {
		if gone[s.host] {
			remote = append(remote, s)
		}
	}
	for _, s := range b.served {
		if gone[s.from] {
			served = append(served, s)
		}
	}
	for to := range b.outboxes {
		if gone[to] {
			outboxes = append(outboxes, to)
		}
	}
	b.mu.Unlock()
	for _, s := range remote {
		b.log.Info("the node serving a relayed session is gone; the client rejoins", "session", s.id, "host", s.host)
		s.end("shutdown", false)
	}
	for _, s := range served {
		b.log.Info("the front door of a served session is gone", "session", s.id, "from", s.from)
		s.stop()
	}
	for _, to := range outboxes {
		b.forgetOutbox(to)
	}
}

// info is what the node announces now: the sessions it serves, counted
// here, and what the load function measures (CPU, tracks, bit rate).
func (b *Backend) info() NodeInfo {
	var load Load
	if b.load != nil {
		load = b.load()
	}
	load.Rooms, load.Participants = 0, 0
	b.mu.Lock()
	for _, r := range b.hosted {
		if n := int(r.sessions.Load()); n > 0 {
			load.Rooms++
			load.Participants += n
		}
	}
	b.mu.Unlock()
	return NodeInfo{ID: b.cfg.NodeID, MediaAddrs: b.cfg.MediaAddrs, Limits: b.cfg.Limits, Load: load,
		Draining: b.draining.Load(), Updated: time.Now()}
}
