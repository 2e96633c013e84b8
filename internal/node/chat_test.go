package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/internal/redistest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// chatRedisStore is a Redis store with its chat, and the server's address.
func chatRedisStore(t *testing.T) (cluster.Store, string) {
	t.Helper()
	addr := redistest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := cluster.Open(ctx, "redis://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	r, err := cluster.NewRedis(client, cluster.WithBlock(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	chat, err := cluster.NewRedisChat(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chat.Close() })
	return cluster.Store{Registry: r, Directory: r, Bus: r, Chat: chat}, addr
}

// waitChat waits until c has seen a chat message with text.
func waitChat(ctx context.Context, t *testing.T, c *loadtest.Client, text string) loadtest.ChatMessage {
	t.Helper()
	for {
		for _, m := range c.Chat() {
			if m.Text == text {
				return m
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never saw %q; saw %+v", c.Self.Identity, text, c.Chat())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func texts(ms []loadtest.ChatMessage) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return strings.Join(out, ",")
}

// TestChatAcrossNodes: two nodes on one shared state (a shared
// MemoryChat, and Redis with a real redis-server). Ann's WebSocket is on
// node1, Bob's on node2: each one's chat reaches the other, stamped, and
// both see the room's messages in one order. A late joiner through node2
// gets the room's last chat_history messages; in Redis the history is a
// capped list that expires, and it is gone once nobody is left in the
// room. No goroutine stays after the nodes shut down.
func TestChatAcrossNodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(*testing.T) (cluster.Store, string)
	}{
		{"memory", func(*testing.T) (cluster.Store, string) {
			m := cluster.NewMemory(time.Now)
			return cluster.Store{Registry: m, Directory: m, Bus: m, Chat: signaling.NewMemoryChat()}, ""
		}},
		{"redis", chatRedisStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			// Registered first, so it runs after the clients and nodes are closed.
			t.Cleanup(func() {
				if c := settle(time.Now().Add(10*time.Second), func() string {
					if err := goleak.Find(ignore); err != nil {
						return err.Error()
					}
					return ""
				}); c != "" {
					t.Errorf("goroutines left after shutdown: %s", c)
				}
			})
			store, addr := tc.store(t)
			var nodes []*node.Node
			for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
				nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
					*c = nodetest.Config(ip)
					c.Keys = clusterKeys
					c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
					c.Cluster.CallTimeout = 20 * time.Second
					c.Signaling.ChatHistory = 3
				}, node.WithStore(store)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const room = "chat-hall"
			dial := func(n *node.Node, who string) *loadtest.Client {
				t.Helper()
				c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: clusterToken(t, room, who), LoopbackOnly: true})
				if err != nil {
					t.Fatalf("%s: %v", who, err)
				}
				t.Cleanup(c.Close)
				return c
			}
			ann, bob := dial(nodes[0], "ann"), dial(nodes[1], "bob")
			if err := ann.SendChat("from node1"); err != nil {
				t.Fatal(err)
			}
			if m := waitChat(ctx, t, bob, "from node1"); m.ParticipantID != ann.Self.ID || m.Identity != "ann" {
				t.Errorf("bob got %+v, want it from ann (%s)", m, ann.Self.ID)
			}
			if err := bob.SendChat("from node2"); err != nil {
				t.Fatal(err)
			}
			if m := waitChat(ctx, t, ann, "from node2"); m.ParticipantID != bob.Self.ID || m.Identity != "bob" {
				t.Errorf("ann got %+v, want it from bob (%s)", m, bob.Self.ID)
			}
			// Both at once: everybody sees one order.
			for i := range 3 {
				_ = ann.SendChat(fmt.Sprint("a", i))
				_ = bob.SendChat(fmt.Sprint("b", i))
			}
			waitChat(ctx, t, ann, "b2")
			waitChat(ctx, t, ann, "a2")
			waitChat(ctx, t, bob, "a2")
			waitChat(ctx, t, bob, "b2")
			if a, b := texts(ann.Chat()), texts(bob.Chat()); a != b {
				t.Errorf("ann saw %s, bob saw %s: want one order", a, b)
			}

			late := dial(nodes[1], "cid")
			want := texts(ann.Chat()[len(ann.Chat())-3:])
			if got := texts(late.Joined.Chat); got != want {
				t.Errorf("the late joiner on node2 got history %q, want the last three %q", got, want)
			}
			if addr != "" {
				key := "sfu:room:{" + room + "}:chat"
				if n, err := redistest.Command(addr, "LLEN", key); err != nil || n != "3" {
					t.Errorf("LLEN %s = %q (%v), want 3", key, n, err)
				}
				if ttl, err := redistest.Command(addr, "PTTL", key); err != nil || strings.HasPrefix(ttl, "-") {
					t.Errorf("PTTL %s = %q (%v), want an expiry", key, ttl, err)
				}
				for _, c := range []*loadtest.Client{ann, bob, late} {
					c.Leave()
				}
				if c := settle(time.Now().Add(10*time.Second), func() string {
					if n, err := redistest.Command(addr, "EXISTS", key); err != nil || n != "0" {
						return fmt.Sprintf("EXISTS %s = %q (%v) after everybody left, want 0", key, n, err)
					}
					return ""
				}); c != "" {
					t.Error(c)
				}
			}
		})
	}
}

// TestChatRedisOutage: with Redis stopped under a running room, a join to
// the room through its node still succeeds (with no history), a chat
// message is refused with unavailable (ref chat) and the session goes on;
// once Redis is back, chat works again.
func TestChatRedisOutage(t *testing.T) {
	inst := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client, err := cluster.Open(ctx, "redis://"+inst.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	r, err := cluster.NewRedis(client, cluster.WithBlock(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	chat, err := cluster.NewRedisChat(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chat.Close() })
	n := nodetest.Start(t, func(c *node.Config) {
		*c = nodetest.Config("127.0.0.1")
		c.Keys = clusterKeys
		c.Cluster.NodeID = "node1"
	}, node.WithStore(cluster.Store{Registry: r, Directory: r, Bus: r, Chat: chat}))
	dial := func(who string) *loadtest.Client {
		t.Helper()
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: clusterToken(t, "outage", who), LoopbackOnly: true})
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ann := dial("ann")
	if err := ann.SendChat("before"); err != nil {
		t.Fatal(err)
	}
	waitChat(ctx, t, ann, "before")

	inst.Stop()
	start := time.Now()
	bob := dial("bob")
	t.Logf("joined with Redis down in %v, history %d messages", time.Since(start).Round(time.Millisecond), len(bob.Joined.Chat))
	if err := ann.SendChat("during"); err != nil {
		t.Fatal(err)
	}
	m, err := ann.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" })
	if err != nil || m.Code != signaling.CodeUnavailable || m.Ref != "chat" {
		t.Fatalf("chat with Redis down: %+v (%v), want unavailable with ref chat", m, err)
	}

	inst.Restart(t)
	if c := settle(time.Now().Add(30*time.Second), func() string {
		if err := ann.SendChat("after"); err != nil {
			return err.Error()
		}
		time.Sleep(500 * time.Millisecond)
		for _, m := range bob.Chat() {
			if m.Text == "after" {
				return ""
			}
		}
		return "bob never got ann's chat after Redis came back"
	}); c != "" {
		t.Error(c)
	}
}
