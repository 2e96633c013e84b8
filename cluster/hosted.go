package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// hostedRoom is a room with participants on this node.
type hostedRoom struct {
	name string
	// mu is held while the room opens or closes here: across the claim
	// and the first join, and across the last leave and the directory's
	// removal, so that they never interleave.
	mu       sync.Mutex
	sessions atomic.Int32      // changed under mu by holders of a reference
	members  map[string]Member // guarded by mu: to record again after Redis lost them
	spanning bool              // guarded by mu: served beside another node, the host
	refs     int               // guarded by Backend.mu
}

// enterRoom returns the room's entry, holding a reference on it.
func (b *Backend) enterRoom(name string) *hostedRoom {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.hosted[name]
	if r == nil {
		r = &hostedRoom{name: name, members: make(map[string]Member)}
		b.hosted[name] = r
	}
	r.refs++
	return r
}

// exitRoom drops a reference, forgetting the room when nobody holds one
// and no session is left: sessions change only under a reference, so
// none can appear meanwhile.
func (b *Backend) exitRoom(r *hostedRoom) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r.refs--
	if r.refs == 0 && r.sessions.Load() == 0 {
		delete(b.hosted, r.name)
	}
}

// joinIfOpen joins the session here when the room already has
// participants here; it returns nothing when it has none.
func (b *Backend) joinIfOpen(ctx context.Context, room string, who sfu.Identity, sink sfu.EventSink) (signaling.Session, string, error) {
	b.mu.Lock()
	r := b.hosted[room]
	open := r != nil && r.sessions.Load() > 0
	b.mu.Unlock()
	if !open {
		return nil, "", nil
	}
	if b.full() {
		return nil, "", nil // placed again, possibly on another node
	}
	return b.joinHere(ctx, room, who, sink, false)
}

// full reports whether the node serves, or is joining, as many
// participants as its limit allows.
func (b *Backend) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fullLocked()
}

func (b *Backend) fullLocked() bool {
	limit := b.cfg.Limits.Participants
	if limit == 0 {
		return false
	}
	n := b.joining
	for _, r := range b.hosted {
		n += int(r.sessions.Load())
	}
	return n >= limit
}

// reserve takes a seat for a join, unless the node is full; the caller
// gives it back with unreserve once the join succeeded (the session
// holds it then) or failed. Concurrent joins cannot overfill the node.
func (b *Backend) reserve() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fullLocked() {
		return false
	}
	b.joining++
	return true
}

func (b *Backend) unreserve() {
	b.mu.Lock()
	b.joining--
	b.mu.Unlock()
}

// openRooms lists the rooms with participants here.
func (b *Backend) openRooms() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	rooms := make([]string, 0, len(b.hosted))
	for name, r := range b.hosted {
		if r.sessions.Load() > 0 {
			rooms = append(rooms, name)
		}
	}
	return rooms
}

// joinHere joins the session on the local SFU. The room's first session
// here claims the room first: when another node holds it, joinHere
// returns that node instead, and the caller goes there; unless span is
// set, for a join the room's full host sent here, when the node serves
// the room beside its host.
func (b *Backend) joinHere(ctx context.Context, room string, who sfu.Identity, sink sfu.EventSink, span bool) (signaling.Session, string, error) {
	if b.draining.Load() {
		return nil, "", sfu.ErrDraining
	}
	if !b.reserve() {
		// The registry's view of this node lags by up to a round: the
		// caller places the session elsewhere.
		return nil, "", errFull
	}
	defer b.unreserve() // after r.sessions counts the session, if it joined
	r := b.enterRoom(room)
	defer b.exitRoom(r)
	r.mu.Lock()
	defer r.mu.Unlock()
	if b.draining.Load() {
		// Drain began meanwhile: it has released the room, or will find
		// it empty; either way it must not be claimed here again.
		return nil, "", sfu.ErrDraining
	}
	if r.sessions.Load() == 0 && span {
		if err := b.store.Directory.Serve(ctx, room, b.cfg.NodeID, b.cfg.TTL); err != nil {
			return nil, "", err
		}
		r.spanning = true
		b.kickRenew() // relays to the room's other nodes, at once
	} else if r.sessions.Load() == 0 {
		host, err := b.store.Directory.Claim(ctx, room, b.cfg.NodeID, b.cfg.TTL)
		if err != nil {
			return nil, "", err
		}
		if host != b.cfg.NodeID {
			return nil, host, nil
		}
		r.spanning = false
		// The claim counts the node as serving the room. The others
		// hear of the new load at once rather than at the next round.
		b.kickRenew()
	}
	p, err := b.sfu.Join(room, who, sink)
	if err != nil {
		if r.sessions.Load() == 0 {
			b.leaveDirectory(ctx, room)
		}
		return nil, "", err
	}
	r.sessions.Add(1)
	info, _ := json.Marshal(p.Info())
	m := Member{ID: p.ID(), Node: b.cfg.NodeID, Info: info}
	r.members[m.ID] = m
	if err := b.store.Directory.PutMember(ctx, room, m); err != nil {
		b.log.Warn("cannot record a member", "room", room, "participant", p.ID(), "err", err)
	}
	return &localSession{Participant: p, b: b, room: room}, "", nil
}

// left records that a session joined here ended.
func (b *Backend) left(room, participant string) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.CallTimeout)
	defer cancel()
	r := b.enterRoom(room)
	defer b.exitRoom(r)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.members, participant)
	if err := b.store.Directory.RemoveMember(ctx, room, participant); err != nil {
		b.log.Warn("cannot remove a member", "room", room, "participant", participant, "err", err)
	}
	if r.sessions.Add(-1) == 0 {
		b.leaveDirectory(ctx, room)
	}
}

// leaveDirectory tells the directory this node serves the room no more.
func (b *Backend) leaveDirectory(ctx context.Context, room string) {
	removed, err := b.store.Directory.Leave(ctx, room, b.cfg.NodeID)
	if err != nil {
		b.log.Warn("cannot leave a room in the directory", "room", room, "err", err)
		return
	}
	b.log.Debug("room closed here", "room", room, "removed", removed)
	if removed && b.store.Chat != nil {
		if err := b.store.Chat.Forget(ctx, room); err != nil {
			b.log.Warn("cannot forget a room's chat", "room", room, "err", err)
		}
	}
}

// reassert renews the node's hold on each room with participants here.
// Holding the claim renews it, and restores it (and, when restore is set,
// the members) in a shared state that lost them, as Redis restarted
// without persistence does. A room the node serves beside its host (as a
// draining node serves the rooms it released) is served again, not
// claimed.
func (b *Backend) reassert(ctx context.Context, restore bool) error {
	b.mu.Lock()
	rooms := make([]*hostedRoom, 0, len(b.hosted))
	for _, r := range b.hosted {
		if r.sessions.Load() > 0 {
			r.refs++
			rooms = append(rooms, r)
		}
	}
	b.mu.Unlock()
	var failed error
	for _, r := range rooms {
		if failed == nil {
			failed = b.reassertRoom(ctx, r, restore)
		}
		b.exitRoom(r)
	}
	return failed
}

func (b *Backend) reassertRoom(ctx context.Context, r *hostedRoom, restore bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions.Load() == 0 {
		return nil
	}
	if r.spanning {
		if err := b.store.Directory.Serve(ctx, r.name, b.cfg.NodeID, b.cfg.TTL); err != nil {
			return err
		}
	} else {
		host, err := b.store.Directory.Claim(ctx, r.name, b.cfg.NodeID, b.cfg.TTL)
		if err != nil {
			return err
		}
		if host != b.cfg.NodeID {
			// Claimed by another while this node could not renew (Redis
			// lost it): the room spans both from now on.
			b.log.Warn("another node claimed a room this node hosted; serving it beside that node", "room", r.name, "host", host)
			r.spanning = true
			if err := b.store.Directory.Serve(ctx, r.name, b.cfg.NodeID, b.cfg.TTL); err != nil {
				return err
			}
		}
	}
	if restore {
		for _, m := range r.members {
			if err := b.store.Directory.PutMember(ctx, r.name, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// localSession is a session joined on this node's SFU.
type localSession struct {
	*sfu.Participant
	b    *Backend
	room string
	once sync.Once
}

// Close implements signaling.Session.
func (s *localSession) Close() {
	s.once.Do(func() {
		s.Participant.Close()
		s.b.left(s.room, s.Participant.ID())
	})
}
