package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/sfu-project/sfu/sfu"
)

// relayQueue bounds the messages waiting for one relay end.
const relayQueue = 256

// relayEnd is this node's end of the media relay of one room with one
// other node serving it (sfu.Relay), and the queue that feeds it the
// peer's messages in order.
type relayEnd struct {
	key  string // room/peer
	id   string // this end; an end opened again is another end
	room string
	peer string
	// peerEnd is the peer's end this one talks to, learnt from its first
	// message: a message from another end of the peer's means the peer
	// opened its end again, and this one starts over too.
	peerEnd atomic.Pointer[string]
	relay   *sfu.Relay
	in      chan sfu.RelayMessage
	// broken is closed when the end cannot keep up (its peer's outbox or
	// its own queue full): it is closed, and opened again next round.
	broken    chan struct{}
	breakOnce sync.Once
}

func (e *relayEnd) breakDown() { e.breakOnce.Do(func() { close(e.broken) }) }

// ensureRelays opens a relay with every other live node serving each
// room open here, so that the room's participants on every node see and
// hear each other; each track crosses each link once. It runs in every
// renewal round. A relay whose peer stops serving ends by itself (its
// peer says bye); one whose peer has not served the room for two rounds
// in a row is closed here, in case the bye was lost. One round proves
// nothing: right after Redis restarted empty, the nodes record their
// rooms again one by one. Only renewLoop's goroutine calls it.
func (b *Backend) ensureRelays(ctx context.Context, rooms []string, live map[string]bool) {
	unserved := make(map[string]bool)
	for _, room := range rooms {
		servers, err := b.store.Directory.Servers(ctx, room)
		if err != nil {
			b.log.Warn("cannot list a room's nodes", "room", room, "err", err)
			continue
		}
		serving := make(map[string]bool, len(servers))
		for _, peer := range servers {
			serving[peer] = true
			if peer != b.cfg.NodeID && live[peer] {
				b.relayWith(room, peer)
			}
		}
		for _, e := range b.relayEnds(room) {
			if serving[e.peer] {
				continue
			}
			unserved[e.key] = true
			if b.relayUnserved[e.key] {
				b.log.Info("the peer of a relay no longer serves its room; the relay ends", "room", room, "peer", e.peer)
				e.relay.Close()
			}
		}
	}
	b.relayUnserved = unserved
}

// relayEnds lists this node's relay ends of room.
func (b *Backend) relayEnds(room string) []*relayEnd {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ends []*relayEnd
	for _, e := range b.relays {
		if e.room == room {
			ends = append(ends, e)
		}
	}
	return ends
}

// relayWith returns this node's relay end of room with peer, opening it
// if needed; nil when the room is not open here or the backend closes.
func (b *Backend) relayWith(room, peer string) *relayEnd {
	key := room + "/" + peer
	b.mu.Lock()
	if e := b.relays[key]; e != nil || b.closed {
		b.mu.Unlock()
		return e
	}
	b.mu.Unlock()
	e := &relayEnd{key: key, id: newSessionID(), room: room, peer: peer, in: make(chan sfu.RelayMessage, relayQueue), broken: make(chan struct{})}
	relay, err := b.sfu.OpenRelay(room, peer, func(m sfu.RelayMessage) {
		env := envelope{Kind: kindRelay, Room: room, RelayFrom: e.id}
		if to := e.peerEnd.Load(); to != nil {
			env.RelayTo = *to
		}
		if !b.offer(peer, outMsg{env: env, relay: &m}) {
			b.log.Warn("outbox full; a relay is restarted", "room", room, "peer", peer)
			e.breakDown()
		}
	})
	if err != nil {
		if !errors.Is(err, sfu.ErrNoRoom) && !errors.Is(err, sfu.ErrClosed) {
			b.log.Warn("cannot open a relay", "room", room, "peer", peer, "err", err)
		}
		return nil
	}
	e.relay = relay
	b.mu.Lock()
	if other := b.relays[key]; other != nil || b.closed {
		b.mu.Unlock()
		relay.Close() // opened meanwhile by another goroutine, or too late
		return other
	}
	b.relays[key] = e
	b.wg.Add(1)
	b.mu.Unlock()
	b.log.Info("relay opened", "room", room, "peer", peer)
	go b.runRelay(e)
	return e
}

// runRelay feeds the end the peer's messages until it ends.
func (b *Backend) runRelay(e *relayEnd) {
	defer b.wg.Done()
	defer func() {
		e.relay.Close()
		b.mu.Lock()
		if b.relays[e.key] == e {
			delete(b.relays, e.key)
		}
		b.mu.Unlock()
		b.log.Info("relay closed", "room", e.room, "peer", e.peer)
	}()
	for {
		select {
		case <-e.relay.Done():
			return
		case <-e.broken:
			return
		case <-b.ctx.Done():
			return
		case m := <-e.in:
			if err := e.relay.Handle(m); err != nil && !errors.Is(err, sfu.ErrClosed) {
				b.log.Warn("relay message refused; the relay ends", "room", e.room, "peer", e.peer, "err", err)
				return
			}
		}
	}
}

// handleRelay passes a relay message from another node to this node's
// end, opening it when the room is open here.
func (b *Backend) handleRelay(env envelope) {
	m, err := sfu.DecodeRelayMessage(env.Relay)
	if err != nil {
		b.log.Warn("bad relay message from another node", "from", env.From, "err", err)
		return
	}
	e := b.relayWith(env.Room, env.From)
	if e == nil {
		return // the room is not (any more) open here: the peer's end ends on its own
	}
	if env.RelayTo != "" && env.RelayTo != e.id {
		return // for an end of this node's that is gone
	}
	if !e.peerEnd.CompareAndSwap(nil, &env.RelayFrom) && *e.peerEnd.Load() != env.RelayFrom {
		// The peer opened its end again: so does this node.
		b.log.Info("the peer's relay end started over; so does this one", "room", env.Room, "peer", env.From)
		e.relay.Close()
		b.mu.Lock()
		if b.relays[e.key] == e {
			delete(b.relays, e.key)
		}
		b.mu.Unlock()
		if e = b.relayWith(env.Room, env.From); e == nil {
			return
		}
		e.peerEnd.CompareAndSwap(nil, &env.RelayFrom)
	}
	select {
	case e.in <- m:
	default:
		b.log.Warn("relay falls behind; it is restarted", "room", env.Room, "peer", env.From)
		e.breakDown()
	}
}

// closeRelays ends every relay end.
func (b *Backend) closeRelays() {
	b.mu.Lock()
	ends := make([]*relayEnd, 0, len(b.relays))
	for _, e := range b.relays {
		ends = append(ends, e)
	}
	b.mu.Unlock()
	for _, e := range ends {
		e.relay.Close()
	}
}
