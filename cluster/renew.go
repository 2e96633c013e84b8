package cluster

import (
	"context"
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
		healthy = b.renew(!healthy || round%restoreEvery == 0)
	}
}

// kickRenew asks for a round now, without waiting.
func (b *Backend) kickRenew() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// renew runs one round and reports whether it reached the shared state.
// When it cannot be reached nothing is concluded about other nodes: calls
// in running rooms go on.
func (b *Backend) renew(restore bool) bool {
	ctx, cancel := context.WithTimeout(b.renewCtx, b.cfg.CallTimeout)
	defer cancel()
	if err := b.store.Registry.Announce(ctx, b.info(), b.cfg.TTL); err != nil {
		b.log.Warn("cannot announce the node", "err", err)
		return false
	}
	if err := b.reassert(ctx, restore); err != nil {
		b.log.Warn("cannot renew the node's rooms", "err", err)
		return false
	}
	nodes, err := b.store.Registry.Nodes(ctx)
	if err != nil {
		b.log.Warn("cannot list nodes", "err", err)
		return false
	}
	live := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		live[n.ID] = true
	}
	b.dropGone(live)
	return true
}

// dropGone ends the sessions relayed to, or served for, nodes not in
// live, and stops their outboxes.
func (b *Backend) dropGone(live map[string]bool) {
	var remote []*remoteSession
	var served []*servedSession
	var gone []string
	b.mu.Lock()
	for _, s := range b.remote {
		if !live[s.host] {
			remote = append(remote, s)
		}
	}
	for _, s := range b.served {
		if !live[s.from] {
			served = append(served, s)
		}
	}
	for to := range b.outboxes {
		if !live[to] {
			gone = append(gone, to)
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
	for _, to := range gone {
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
