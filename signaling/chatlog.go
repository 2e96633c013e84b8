package signaling

import (
	"context"
	"sync"
)

// ChatMessage is one chat message as the server stamped it: the text is
// the sender's, everything else the server's.
type ChatMessage struct {
	// ID is unique across the deployment; clients use it to show each
	// message once (history after a rejoin repeats what they saw).
	ID            string `json:"id"`
	ParticipantID string `json:"participantId"`
	Identity      string `json:"identity"`
	Name          string `json:"name"`
	Text          string `json:"text"`
	// Time is when the server accepted the message, in milliseconds since
	// the Unix epoch, by the accepting node's clock.
	Time int64 `json:"time"`
}

// ChatLog keeps each room's recent chat messages and carries new ones to
// every node with members in the room. The single-node implementation is
// MemoryChat; a cluster keeps it in Redis (cluster.RedisChat).
type ChatLog interface {
	// Post appends msg to room's history, keeping the last keep messages,
	// and delivers it to every subscriber of room, on every node, this
	// one included. Subscribers of one room see its messages in the order
	// of its history.
	Post(ctx context.Context, room string, msg ChatMessage, keep int) error
	// History returns room's last n messages, oldest first.
	History(ctx context.Context, room string, n int) ([]ChatMessage, error)
	// Subscribe calls deliver with each message posted to room from its
	// return on, until unsubscribe is called. deliver must not block.
	Subscribe(room string, deliver func(ChatMessage)) (unsubscribe func())
	// Forget removes room's history: the room is gone.
	Forget(ctx context.Context, room string) error
}

// MemoryChat is a ChatLog held in this process, for a single node.
type MemoryChat struct {
	mu    sync.Mutex // guards rooms and next
	rooms map[string]*memoryChatRoom
	next  uint64 // numbers subscriptions
}

type memoryChatRoom struct {
	history []ChatMessage
	subs    map[uint64]func(ChatMessage)
	// queue holds posted messages not yet delivered; draining says a
	// poster is delivering them. Whoever posts while another drains
	// leaves its message to that one, so that every subscriber gets the
	// messages in history order, with no callback under mu.
	queue    []ChatMessage
	draining bool
}

// NewMemoryChat returns an empty MemoryChat.
func NewMemoryChat() *MemoryChat { return &MemoryChat{rooms: make(map[string]*memoryChatRoom)} }

var _ ChatLog = (*MemoryChat)(nil)

func (m *MemoryChat) roomLocked(room string) *memoryChatRoom {
	r := m.rooms[room]
	if r == nil {
		r = &memoryChatRoom{subs: make(map[uint64]func(ChatMessage))}
		m.rooms[room] = r
	}
	return r
}

// Post implements ChatLog.
func (m *MemoryChat) Post(_ context.Context, room string, msg ChatMessage, keep int) error {
	m.mu.Lock()
	r := m.roomLocked(room)
	r.history = append(r.history, msg)
	if over := len(r.history) - keep; over > 0 {
		r.history = append(r.history[:0:0], r.history[over:]...)
	}
	r.queue = append(r.queue, msg)
	if r.draining {
		m.mu.Unlock()
		return nil
	}
	r.draining = true
	for len(r.queue) > 0 {
		next := r.queue[0]
		r.queue = r.queue[1:]
		subs := make([]func(ChatMessage), 0, len(r.subs))
		for _, f := range r.subs {
			subs = append(subs, f)
		}
		m.mu.Unlock()
		for _, f := range subs {
			f(next)
		}
		m.mu.Lock()
	}
	r.draining = false
	r.queue = nil
	m.mu.Unlock()
	return nil
}

// History implements ChatLog.
func (m *MemoryChat) History(_ context.Context, room string, n int) ([]ChatMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rooms[room]
	if r == nil || n <= 0 {
		return nil, nil
	}
	h := r.history[max(len(r.history)-n, 0):]
	return append([]ChatMessage(nil), h...), nil
}

// Subscribe implements ChatLog.
func (m *MemoryChat) Subscribe(room string, deliver func(ChatMessage)) func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	id := m.next
	m.roomLocked(room).subs[id] = deliver
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if r := m.rooms[room]; r != nil {
			delete(r.subs, id)
			m.dropIfIdleLocked(room, r)
		}
	}
}

// Forget implements ChatLog.
func (m *MemoryChat) Forget(_ context.Context, room string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.rooms[room]; r != nil {
		r.history = nil
		m.dropIfIdleLocked(room, r)
	}
	return nil
}

// dropIfIdleLocked lets a room with nothing in it go.
func (m *MemoryChat) dropIfIdleLocked(room string, r *memoryChatRoom) {
	if len(r.history) == 0 && len(r.subs) == 0 && !r.draining {
		delete(m.rooms, room)
	}
}
