package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
)

// TestDataAcrossNodes: on a Redis-backed cluster of two nodes, node1
// takes two participants, so the third is served by node2 and the room
// spans both. Application data, reliable and lossy, to everybody and to
// one participant, reaches the recipients on the other node with the
// sender's ID, and nobody else. A receiver on node2 that stops reading
// has data dropped for it there, which its sender on node1 is told.
func TestDataAcrossNodes(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close() // network polling lives as long as the process: start it first
	}
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
	store := redisStore(t)
	var nodes []*node.Node
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Keys = clusterKeys
			c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
			c.Cluster.Announce, c.Cluster.NodeTTL = 200*time.Millisecond, time.Second
			c.Cluster.CallTimeout = 20 * time.Second
			if i == 0 {
				c.Cluster.MaxParticipants = 2
			}
		}, node.WithStore(store)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const room = "data-span"
	var clients []*loadtest.Client
	for _, who := range []string{"ann", "bob", "cid"} {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(nodes[0]), Token: clusterToken(t, room, who), LoopbackOnly: true})
		if err != nil {
			t.Fatalf("%s joining: %v", who, err)
		}
		t.Cleanup(c.Close)
		if err := c.OpenData(ctx); err != nil {
			t.Fatalf("%s opening data channels: %v", who, err)
		}
		clients = append(clients, c)
		if who != "cid" {
			// Let node1's announced load catch up with who it serves.
			time.Sleep(500 * time.Millisecond)
		}
	}
	ann, bob, cid := clients[0], clients[1], clients[2]
	if st, ok := nodes[1].SFU().RoomState(room); !ok || len(st.Participants) == 0 {
		t.Fatalf("node2 serves nobody of the room: the room does not span the nodes")
	}
	// The relay between the nodes opens when cid joins node2. Reliable
	// data sent as soon as each sees the other arrives, once sent: what
	// is sent before the relay's data channel opens waits for it.
	if _, err := ann.WaitFor(ctx, func(m loadtest.Message) bool {
		p, ok := m.Joins("cid")
		return ok && p.ID == cid.Self.ID
	}); err != nil {
		t.Fatalf("ann never saw cid join: %v", err)
	}
	for _, p := range [][2]*loadtest.Client{{ann, cid}, {cid, ann}} {
		if err := p[0].SendData("at-once", []string{p[1].Self.ID}, []byte("hello"), false); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]*loadtest.Client{{ann, cid}, {cid, ann}} {
		w, c := context.WithTimeout(ctx, 10*time.Second)
		_, err := p[1].WaitData(w, func(m loadtest.DataMessage) bool { return m.Topic == "at-once" && m.From == p[0].Self.ID })
		c()
		if err != nil {
			t.Fatalf("reliable data sent from %s to %s as soon as the relay existed was lost: %v", p[0].Self.ID, p[1].Self.ID, err)
		}
	}
	// Lossy data is not held: send until the first message arrives.
	waitFirst := func(from, to *loadtest.Client, lossy bool) {
		t.Helper()
		topic := fmt.Sprintf("ready-%v", lossy)
		for {
			if err := from.SendData(topic, []string{to.Self.ID}, []byte("r"), lossy); err != nil {
				t.Fatal(err)
			}
			w, c := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err := to.WaitData(w, func(m loadtest.DataMessage) bool { return m.Topic == topic && m.From == from.Self.ID })
			c()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s's data never reached %s", from.Self.ID, to.Self.ID)
			}
		}
	}
	waitFirst(ann, cid, true)
	waitFirst(cid, ann, true)
	got := func(rx *loadtest.Client, from *loadtest.Client, topic string, payload []byte, lossy bool) {
		t.Helper()
		if _, err := rx.WaitData(ctx, func(m loadtest.DataMessage) bool {
			return m.From == from.Self.ID && m.Topic == topic && bytes.Equal(m.Payload, payload) && m.Lossy == lossy
		}); err != nil {
			t.Fatalf("%s did not get %s from %s: %v", rx.Self.ID, topic, from.Self.ID, err)
		}
	}
	for _, lossy := range []bool{false, true} {
		all := []byte(fmt.Sprintf("all %v", lossy))
		if err := ann.SendData("all", nil, all, lossy); err != nil {
			t.Fatal(err)
		}
		got(bob, ann, "all", all, lossy)
		got(cid, ann, "all", all, lossy)
		one := []byte(fmt.Sprintf("one %v", lossy))
		if err := cid.SendData("one", []string{ann.Self.ID}, one, lossy); err != nil {
			t.Fatal(err)
		}
		got(ann, cid, "one", one, lossy)
	}
	// Reliable messages in order, across the nodes.
	const n = 200
	for i := range n {
		if err := cid.SendData("seq", nil, []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	for _, rx := range []*loadtest.Client{ann, bob} {
		got(rx, cid, "seq", []byte(fmt.Sprint(n-1)), false)
		i := 0
		for _, m := range rx.DataReceived() {
			if m.Topic != "seq" {
				continue
			}
			if string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("%s got seq %s, want %d", rx.Self.ID, m.Payload, i)
			}
			i++
		}
		if i != n {
			t.Fatalf("%s got %d of %d", rx.Self.ID, i, n)
		}
	}
	// cid's "one" was for ann alone: it crossed to node1, where bob is.
	if err := cid.SendData("marker", []string{bob.Self.ID}, []byte("m"), false); err != nil {
		t.Fatal(err)
	}
	got(bob, cid, "marker", []byte("m"), false)
	for _, m := range bob.DataReceived() {
		if m.Topic == "one" {
			t.Errorf("bob got a message for ann alone: %+v", m)
		}
	}

	// cid, on node2, stops reading: what does not fit its queue there
	// (1 MiB) is dropped for it, and ann, on node1, is told so, naming
	// cid, as for a receiver on her own node. 4 MiB in messages of 16 KiB
	// fill that queue and cid's SCTP window, and stay within ann's burst.
	cid.StallData()
	payload := make([]byte, 16<<10)
	for range 256 {
		if err := ann.SendData("bulk", []string{cid.Self.ID}, payload, false); err != nil {
			t.Fatal(err)
		}
	}
	w, c := context.WithTimeout(ctx, 20*time.Second)
	m, err := ann.WaitFor(w, func(m loadtest.Message) bool { return m.Type == "error" && m.Ref == "data" })
	c()
	if err != nil {
		t.Fatalf("ann was not told that her data was dropped for cid on node2: %v", err)
	}
	if m.Code != "data_dropped" || m.ParticipantID != cid.Self.ID {
		t.Fatalf("ann got %s, want data_dropped naming cid (%s)", m.Raw, cid.Self.ID)
	}
}
