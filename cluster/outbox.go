package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sfu-project/sfu/sfu"
)

// outboxSize bounds the messages waiting for one receiving node.
const outboxSize = 16384

// outMsg is a message waiting to be sent; an event is encoded by the
// outbox's goroutine, not by the SFU goroutine that sends it.
type outMsg struct {
	env   envelope
	ev    sfu.Event
	relay *sfu.RelayMessage
}

// outbox sends this node's messages to one other node, one at a time in
// the order they were queued, which is the order the Bus keeps.
type outbox struct {
	to   string
	q    chan *outMsg
	quit chan struct{} // closed when the receiver is gone
}

// outboxTo returns the outbox for node to, starting it if needed; nil once
// the backend is closed.
func (b *Backend) outboxTo(to string) *outbox {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		return nil
	}
	o := b.outboxes[to]
	if o == nil {
		o = &outbox{to: to, q: make(chan *outMsg, outboxSize), quit: make(chan struct{})}
		b.outboxes[to] = o
		b.wg.Add(1)
		go b.runOutbox(o)
	}
	return o
}

// offer queues m for node to without waiting; false when its outbox is
// full or gone.
func (b *Backend) offer(to string, m outMsg) bool {
	o := b.outboxTo(to)
	if o == nil {
		return false
	}
	m.env.From = b.cfg.NodeID
	select {
	case o.q <- &m:
		return true
	default:
		return false
	}
}

// post queues a message that may be lost without harm (a result or close:
// the other side times out or finds the session gone by itself).
func (b *Backend) post(to string, env envelope) {
	if !b.offer(to, outMsg{env: env}) {
		b.log.Warn("outbox full; a message to another node is dropped", "to", to, "kind", env.Kind)
	}
}

// forgetOutbox stops the outbox of a node that is gone.
func (b *Backend) forgetOutbox(to string) {
	b.mu.Lock()
	o := b.outboxes[to]
	delete(b.outboxes, to)
	b.mu.Unlock()
	if o != nil {
		close(o.quit)
	}
}

func (b *Backend) runOutbox(o *outbox) {
	defer b.wg.Done()
	batch := make([][]byte, 0, sendBatch)
	for {
		var first *outMsg
		select {
		case <-o.quit:
			return
		case <-b.ctx.Done():
			// Send what is queued (the closes of a shutdown), briefly.
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) {
				batch = b.takeBatch(o, batch[:0], nil)
				if len(batch) == 0 {
					return
				}
				b.send(o.to, batch)
			}
			return
		case first = <-o.q:
		}
		batch = b.takeBatch(o, batch[:0], first)
		if len(batch) > 0 {
			b.send(o.to, batch)
		}
	}
}

// sendBatch bounds the messages sent to a node in one exchange.
const sendBatch = 256

// takeBatch encodes first, if any, and what else is queued, up to
// sendBatch messages, in order.
func (b *Backend) takeBatch(o *outbox, batch [][]byte, first *outMsg) [][]byte {
	if first != nil {
		if data := b.encode(first); data != nil {
			batch = append(batch, data)
		}
	}
	for len(batch) < sendBatch {
		select {
		case m := <-o.q:
			if data := b.encode(m); data != nil {
				batch = append(batch, data)
			}
		default:
			return batch
		}
	}
	return batch
}

// encode is m as it travels; nil when it cannot be encoded (logged).
func (b *Backend) encode(m *outMsg) []byte {
	if m.ev != nil {
		data, err := sfu.MarshalEvent(m.ev)
		if err != nil {
			b.log.Error("cannot encode an event for another node", "event", fmt.Sprintf("%T", m.ev), "err", err)
			return nil
		}
		m.env.Event = data
	}
	if m.relay != nil {
		data, err := json.Marshal(m.relay)
		if err != nil {
			b.log.Error("cannot encode a relay message", "err", err)
			return nil
		}
		m.env.Relay = data
	}
	data, err := json.Marshal(m.env)
	if err != nil {
		b.log.Error("cannot encode a message for another node", "err", err)
		return nil
	}
	return data
}

// send sends a batch of messages, waiting at most CallTimeout per try,
// also while the backend closes: the messages of a shutdown (byes,
// closes) still go out.
func (b *Backend) send(to string, batch [][]byte) {
	// While the shared state is unreachable the batch waits, and the
	// messages behind it, for up to outageGrace: a short Redis outage
	// loses nothing. Past that, or once the backend closes, it is
	// dropped: a lost event ends its session at the front door (a gap in
	// the numbers), a lost call times out there.
	wait, giveUp := 100*time.Millisecond, time.Now().Add(outageGrace)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.CallTimeout)
		err := b.store.Bus.Send(ctx, to, batch...)
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrUnavailable) || b.ctx.Err() != nil || time.Now().After(giveUp) {
			b.log.Warn("cannot send to another node", "to", to, "messages", len(batch), "err", err)
			return
		}
		select {
		case <-b.ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// outageGrace is how long a message to another node waits for the shared
// state to come back.
const outageGrace = 45 * time.Second

// request sends a call to node to and waits for its result until ctx
// ends.
func (b *Backend) request(ctx context.Context, to string, env envelope) (envelope, error) {
	env.Call = b.calls.Add(1)
	ch := make(chan envelope, 1)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return envelope{}, sfu.ErrClosed
	}
	b.pending[env.Call] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, env.Call)
		b.mu.Unlock()
	}()
	o := b.outboxTo(to)
	if o == nil {
		return envelope{}, sfu.ErrClosed
	}
	env.From = b.cfg.NodeID
	select {
	case o.q <- &outMsg{env: env}:
	case <-ctx.Done():
		return envelope{}, fmt.Errorf("cluster: node %s: outbox full: %w", to, ErrUnavailable)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return envelope{}, fmt.Errorf("cluster: node %s did not answer in time: %w", to, ErrUnavailable)
	}
}

// handle takes one message from the Bus. It runs on the Bus's receiving
// goroutine, one message at a time, and never waits: calls go to their
// session's goroutine.
func (b *Backend) handle(data []byte) {
	env, err := decodeEnvelope(data)
	if err != nil {
		b.log.Warn("dropping a message from the bus", "err", err)
		return
	}
	switch env.Kind {
	case kindResult:
		b.mu.Lock()
		ch := b.pending[env.Call]
		delete(b.pending, env.Call)
		b.mu.Unlock()
		if ch != nil {
			ch <- env
		}
	case kindEvent:
		if s := b.remoteSession(env.Session, env.From); s != nil {
			s.deliver(env)
		}
	case kindClose:
		if s := b.remoteSession(env.Session, env.From); s != nil {
			s.end("shutdown", false)
		} else if s := b.servedFor(env); s != nil {
			s.enqueue(env)
		}
	case kindRelay:
		b.handleRelay(env)
	case kindCall:
		if s := b.servedFor(env); s != nil {
			s.enqueue(env)
		} else {
			res := envelope{Kind: kindResult, Session: env.Session, Call: env.Call}
			res.failed(sfu.ErrClosed)
			b.post(env.From, res)
		}
	}
}

// remoteSession returns the session this node relays with that ID to
// host, if any.
func (b *Backend) remoteSession(id, host string) *remoteSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.remote[id]; s != nil && s.host == host {
		return s
	}
	return nil
}
