package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/internal/redistest"
	"github.com/sfu-project/sfu/signaling"
)

// chatInbox collects what a subscription delivers.
type chatInbox struct {
	mu   sync.Mutex
	msgs []string
}

func (b *chatInbox) deliver(m signaling.ChatMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m.Text)
}

func (b *chatInbox) got() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.msgs, ",")
}

// waitInbox waits until b holds want.
func waitInbox(t *testing.T, what string, b *chatInbox, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.got() != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s received %q, want %q", what, b.got(), want)
		}
	}
}

func texts(ms []signaling.ChatMessage) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return strings.Join(out, ",")
}

// runChatContract checks a signaling.ChatLog as two nodes see it (node(0)
// and node(1), the same store): a post reaches every subscriber of the
// room on both, in the order of the history, and no other room's; the
// history keeps the last keep messages; an unsubscribed subscriber gets
// nothing more; Forget empties the history.
func runChatContract(t *testing.T, node func(i int) signaling.ChatLog) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := node(0), node(1)
	var onA, onB, other, gone chatInbox
	stopA := a.Subscribe("r", onA.deliver)
	defer stopA()
	stopB := b.Subscribe("r", onB.deliver)
	defer stopB()
	stopOther := b.Subscribe("other", other.deliver)
	defer stopOther()
	stopGone := b.Subscribe("r", gone.deliver)
	for i := range 4 {
		from := []signaling.ChatLog{a, b}[i%2]
		must(t, from.Post(ctx, "r", signaling.ChatMessage{ID: fmt.Sprint("id", i), Text: fmt.Sprint("m", i)}, 3))
	}
	waitInbox(t, "node 0", &onA, "m0,m1,m2,m3")
	waitInbox(t, "node 1", &onB, "m0,m1,m2,m3")
	waitInbox(t, "node 1's second subscriber", &gone, "m0,m1,m2,m3")
	for i, n := range []signaling.ChatLog{a, b} {
		h, err := n.History(ctx, "r", 10)
		must(t, err)
		if texts(h) != "m1,m2,m3" {
			t.Errorf("node %d: history %q, want the last 3", i, texts(h))
		}
		if h, err := n.History(ctx, "r", 2); err != nil || texts(h) != "m2,m3" {
			t.Errorf("node %d: the last 2: %q (%v)", i, texts(h), err)
		}
	}
	stopGone()
	must(t, a.Post(ctx, "r", signaling.ChatMessage{ID: "id4", Text: "m4"}, 3))
	waitInbox(t, "node 1", &onB, "m0,m1,m2,m3,m4")
	if other.got() != "" || gone.got() != "m0,m1,m2,m3" {
		t.Errorf("another room's subscriber got %q, an unsubscribed one %q", other.got(), gone.got())
	}
	must(t, b.Forget(ctx, "r"))
	if h, err := a.History(ctx, "r", 10); err != nil || len(h) != 0 {
		t.Errorf("after Forget the history is %q (%v)", texts(h), err)
	}
}

func TestChatContractMemory(t *testing.T) {
	m := signaling.NewMemoryChat()
	runChatContract(t, func(int) signaling.ChatLog { return m })
}

func TestChatContractRedis(t *testing.T) {
	addr := redistest.Server(t)
	testRedisChat(t, func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr}) })
}

func TestChatContractRedisCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	testRedisChat(t, func() redis.UniversalClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}) })
}

// testRedisChat runs the contract with a client and a RedisChat a node.
func testRedisChat(t *testing.T, newClient func() redis.UniversalClient) {
	prefix := fmt.Sprintf("t%d", prefixSeq.Add(1))
	var chats []*RedisChat
	for range 2 {
		c := newClient()
		chat, err := NewRedisChat(c, WithPrefix(prefix))
		must(t, err)
		t.Cleanup(func() {
			must(t, chat.Close())
			c.Close()
		})
		chats = append(chats, chat)
	}
	runChatContract(t, func(i int) signaling.ChatLog { return chats[i] })
}
