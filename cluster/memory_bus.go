package cluster

import (
	"context"
	"slices"
	"sync"
)

// receiver is one active Receive call of Memory: its queue of messages
// not yet handled. Memory.mu is never held while a receiver's mu is taken.
type receiver struct {
	wake chan struct{} // capacity 1: "the queue may have grown"

	mu    sync.Mutex
	queue [][]byte // guarded by mu
}

// push queues msg, dropping the oldest message when the queue is full.
func (r *receiver) push(msg []byte) {
	r.mu.Lock()
	if len(r.queue) >= memoryQueueMax {
		copy(r.queue, r.queue[1:])
		r.queue = r.queue[:len(r.queue)-1]
	}
	r.queue = append(r.queue, msg)
	r.mu.Unlock()
	// Signal after unlocking: never a channel send under our own lock.
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take empties the queue and returns what it held.
func (r *receiver) take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queue
	r.queue = nil
	return q
}

// Send implements Bus. A message to a node with no active Receive is
// dropped; msgs are copied, so the caller may reuse them.
func (m *Memory) Send(_ context.Context, to string, msgs ...[]byte) error {
	if err := checkName("node", to); err != nil {
		return err
	}
	m.mu.Lock()
	rs := slices.Clone(m.receivers[to])
	m.mu.Unlock()
	for _, r := range rs {
		for _, msg := range msgs {
			r.push(slices.Clone(msg))
		}
	}
	return nil
}

// Receive implements Bus. Each concurrent Receive for one node gets every
// message sent to it while it runs.
func (m *Memory) Receive(ctx context.Context, node string, handle func(msg []byte)) error {
	if err := checkName("node", node); err != nil {
		return err
	}
	r := &receiver{wake: make(chan struct{}, 1)}
	m.mu.Lock()
	m.receivers[node] = append(m.receivers[node], r)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		rs := slices.DeleteFunc(m.receivers[node], func(x *receiver) bool { return x == r })
		if len(rs) == 0 {
			delete(m.receivers, node)
		} else {
			m.receivers[node] = rs
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake:
		}
		for _, msg := range r.take() {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			handle(msg)
		}
	}
}
