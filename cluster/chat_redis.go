package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/signaling"
)

// chatHistoryTTL is how long a room's chat history outlives its last
// message at most, should no node remove it with the room (every node
// that served the room died).
const chatHistoryTTL = 24 * time.Hour

// chatSubscribeTimeout bounds a SUBSCRIBE or UNSUBSCRIBE: while Redis is
// out of reach, a join waits no longer for it (go-redis subscribes again
// when it reconnects).
const chatSubscribeTimeout = time.Second

// RedisChat is signaling.ChatLog kept in Redis, for the nodes of a
// cluster. A room's history is a list, capped and expiring
// (sfu:room:{ROOM}:chat, in the room's hash slot); a message is appended,
// trimmed and published on the room's channel (sfu:chat:{ROOM}) in one
// script, so that every node sees the room's messages in the order of
// its history. Each node subscribes, on one connection, to the channels
// of the rooms it has members of. Pub/sub drops what is published while a
// node reconnects: the history is the record, and a client that rejoins
// gets it again.
type RedisChat struct {
	client redis.UniversalClient
	prefix string

	// psMu orders the SUBSCRIBE and UNSUBSCRIBE calls with the changes to
	// subs that decide them; it is held across those calls.
	psMu sync.Mutex
	ps   *redis.PubSub // nil until the first subscription; guarded by psMu
	done chan struct{} // closed when the dispatching goroutine returns

	mu     sync.Mutex                                        // guards subs, next, closed; held for no call
	subs   map[string]map[uint64]func(signaling.ChatMessage) // by channel
	next   uint64
	closed bool
}

var _ signaling.ChatLog = (*RedisChat)(nil)

// NewRedisChat returns the chat kept in Redis through client (the
// caller's to close); of the options only WithPrefix applies. Close
// stops its subscriptions.
func NewRedisChat(client redis.UniversalClient, opts ...Option) (*RedisChat, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &RedisChat{client: client, prefix: o.prefix, done: make(chan struct{}),
		subs: make(map[string]map[uint64]func(signaling.ChatMessage))}, nil
}

func (r *RedisChat) historyKey(room string) string {
	return r.prefix + ":room:{" + tagEscaper.Replace(room) + "}:chat"
}

func (r *RedisChat) channel(room string) string {
	return r.prefix + ":chat:{" + tagEscaper.Replace(room) + "}"
}

// postScript: KEYS history; ARGV message, keep, ttl (ms), channel.
var postScript = redis.NewScript(`
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
`)

// Post implements signaling.ChatLog.
func (r *RedisChat) Post(ctx context.Context, room string, msg signaling.ChatMessage, keep int) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	keep = max(keep, 1) // the list holds the message while it is published
	err = postScript.Run(ctx, r.client, []string{r.historyKey(room)}, data, keep, chatHistoryTTL.Milliseconds(), r.channel(room)).Err()
	return wrapErr("chat post", err)
}

// History implements signaling.ChatLog.
func (r *RedisChat) History(ctx context.Context, room string, n int) ([]signaling.ChatMessage, error) {
	if n <= 0 {
		return nil, nil
	}
	raw, err := r.client.LRange(ctx, r.historyKey(room), int64(-n), -1).Result()
	if err != nil {
		return nil, wrapErr("chat history", err)
	}
	out := make([]signaling.ChatMessage, 0, len(raw))
	for _, s := range raw {
		var m signaling.ChatMessage
		if json.Unmarshal([]byte(s), &m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// Forget implements signaling.ChatLog.
func (r *RedisChat) Forget(ctx context.Context, room string) error {
	return wrapErr("chat forget", r.client.Del(ctx, r.historyKey(room)).Err())
}

// Subscribe implements signaling.ChatLog. The first subscription to a
// room on this node subscribes to its channel, and returns once Redis
// has been sent the SUBSCRIBE; a failure is logged by nobody and retried
// by go-redis when it reconnects (it resubscribes every channel).
func (r *RedisChat) Subscribe(room string, deliver func(signaling.ChatMessage)) func() {
	ch := r.channel(room)
	r.psMu.Lock()
	defer r.psMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return func() {}
	}
	r.next++
	id := r.next
	first := r.subs[ch] == nil
	if first {
		r.subs[ch] = make(map[uint64]func(signaling.ChatMessage))
	}
	r.subs[ch][id] = deliver
	r.mu.Unlock()
	if first {
		ctx, cancel := context.WithTimeout(context.Background(), chatSubscribeTimeout)
		if r.ps == nil {
			r.ps = r.client.Subscribe(ctx, ch)
			// The first confirmation is awaited here, before anyone
			// reads the history; later ones go to the dispatcher.
			_, _ = r.ps.Receive(ctx)
			go r.dispatch(r.ps.Channel())
		} else {
			_ = r.ps.Subscribe(ctx, ch)
		}
		cancel()
	}
	var once sync.Once
	return func() { once.Do(func() { r.unsubscribe(ch, id) }) }
}

func (r *RedisChat) unsubscribe(ch string, id uint64) {
	r.psMu.Lock()
	defer r.psMu.Unlock()
	r.mu.Lock()
	subs := r.subs[ch]
	delete(subs, id)
	last := subs != nil && len(subs) == 0 && !r.closed
	if last {
		delete(r.subs, ch)
	}
	r.mu.Unlock()
	if last && r.ps != nil {
		ctx, cancel := context.WithTimeout(context.Background(), chatSubscribeTimeout)
		_ = r.ps.Unsubscribe(ctx, ch)
		cancel()
	}
}

// dispatch hands each published message to the room's subscribers here,
// until the PubSub is closed.
func (r *RedisChat) dispatch(in <-chan *redis.Message) {
	defer close(r.done)
	for msg := range in {
		var m signaling.ChatMessage
		if json.Unmarshal([]byte(msg.Payload), &m) != nil {
			continue
		}
		r.mu.Lock()
		subs := make([]func(signaling.ChatMessage), 0, len(r.subs[msg.Channel]))
		for _, f := range r.subs[msg.Channel] {
			subs = append(subs, f)
		}
		r.mu.Unlock()
		for _, f := range subs {
			f(m)
		}
	}
}

// Close ends the subscriptions; the chat delivers nothing more.
func (r *RedisChat) Close() error {
	r.psMu.Lock()
	defer r.psMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.subs = map[string]map[uint64]func(signaling.ChatMessage){}
	r.mu.Unlock()
	if r.ps == nil {
		return nil
	}
	err := r.ps.Close()
	<-r.done
	return err
}
