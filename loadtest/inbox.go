package loadtest

import (
	"context"
	"errors"
	"sync"
)

// ErrDisconnected is returned by WaitFor once the socket closed and no
// received message matches.
var ErrDisconnected = errors.New("loadtest: disconnected")

// inbox keeps the messages received, so tests can wait for one that
// arrived before they started waiting: all of them, or with keep > 0
// between keep and twice keep of the latest.
type inbox struct {
	keep   int
	mu     sync.Mutex // guards the fields below
	msgs   []Message
	taken  []bool
	closed bool
	notify chan struct{} // closed and replaced whenever something arrives
}

func newInbox(keep int) *inbox { return &inbox{keep: keep, notify: make(chan struct{})} }

func (b *inbox) put(m Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.taken = append(b.taken, false)
	if n := len(b.msgs); b.keep > 0 && n > 2*b.keep {
		copy(b.msgs, b.msgs[n-b.keep:])
		clear(b.msgs[b.keep:])
		b.msgs = b.msgs[:b.keep]
		copy(b.taken, b.taken[n-b.keep:])
		b.taken = b.taken[:b.keep]
	}
	close(b.notify)
	b.notify = make(chan struct{})
	b.mu.Unlock()
}

func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	close(b.notify)
	b.notify = make(chan struct{})
	b.mu.Unlock()
}

func (b *inbox) all() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.msgs...)
}

func (b *inbox) waitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		b.mu.Lock()
		for i, m := range b.msgs {
			if !b.taken[i] && match(m) {
				b.taken[i] = true
				b.mu.Unlock()
				return m, nil
			}
		}
		closed, ch := b.closed, b.notify
		b.mu.Unlock()
		if closed {
			return Message{}, ErrDisconnected
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}
