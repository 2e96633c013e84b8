package node_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
)

// partitionTable is the nftables table that cuts UDP between two nodes.
const partitionTable = "sfutest_partition"

// partition drops UDP between a and b, both ways, until heal is called.
func partition(t *testing.T, a, b string) (heal func()) {
	t.Helper()
	script := fmt.Sprintf(`table inet %[1]s {
	chain out {
		type filter hook output priority 0;
		ip saddr %[2]s ip daddr %[3]s meta l4proto udp drop
		ip saddr %[3]s ip daddr %[2]s meta l4proto udp drop
	}
}
`, partitionTable, a, b)
	if err := loadtest.RunTool(script, "nft", "-f", "-"); err != nil {
		t.Fatalf("partition: %v", err)
	}
	healed := false
	heal = func() {
		if !healed {
			healed = true
			if err := loadtest.RunTool("", "nft", "delete", "table", "inet", partitionTable); err != nil {
				t.Errorf("heal: %v", err)
			}
		}
	}
	t.Cleanup(heal)
	return heal
}

// TestPartitionedRelay: a room spans two nodes (on 127.0.0.2 and .3; the
// clients and Redis-free shared state stay reachable) when the network
// between the two nodes breaks: the relay fails and is torn down on both
// nodes (nothing is forwarded into the void: the imported participants
// and the relay's member leave each node's room), and once the network
// is back the relay is opened again and media crosses it again.
func TestPartitionedRelay(t *testing.T) {
	if err := loadtest.Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the partition test: %v", err)
		}
		t.Skipf("partition test skipped: %v", err)
	}
	store := memoryStore()
	var nodes []*node.Node
	for i, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Keys = clusterKeys
			c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
			c.Cluster.Announce, c.Cluster.NodeTTL = 500*time.Millisecond, 2*time.Second
			c.SFU.DisconnectTimeout = time.Second
			if i == 0 {
				c.Cluster.MaxParticipants = 2
			}
		}, node.WithStore(store)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const room = "split"
	var clients []*loadtest.Client
	for _, who := range []string{"ann", "bob", "cid"} {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(nodes[0]), Token: clusterToken(t, room, who), LoopbackOnly: true})
		if err != nil {
			t.Fatalf("%s joining: %v", who, err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		time.Sleep(700 * time.Millisecond) // node1's load announced
	}
	ann, cid := clients[0], clients[2]
	expectMedia(t, cid, ann, nodes[1].MediaAddr().String())
	members := func(n *node.Node) int {
		st, _ := n.SFU().RoomState(room)
		return len(st.Participants)
	}
	spanned := []int{members(nodes[0]), members(nodes[1])}
	t.Logf("room members with the relay up: node1 %d, node2 %d", spanned[0], spanned[1])

	heal := partition(t, "127.0.0.2", "127.0.0.3")
	if c := settle(time.Now().Add(20*time.Second), func() string {
		if m1, m2 := members(nodes[0]), members(nodes[1]); m1 != 2 || m2 != 1 {
			return fmt.Sprintf("room members during the partition: node1 %d, node2 %d; want 2 and 1 (own clients only)", m1, m2)
		}
		return ""
	}); c != "" {
		t.Fatal(c)
	}
	before := videoFrames(cid, ann)
	time.Sleep(2 * time.Second)
	if got := videoFrames(cid, ann) - before; got > 5 {
		t.Errorf("cid got %d frames from ann across a broken relay", got)
	}

	heal()
	if c := settle(time.Now().Add(30*time.Second), func() string {
		if got := videoFrames(cid, ann) - before; got < 30 {
			return fmt.Sprintf("after the network came back cid got %d frames from ann", got)
		}
		if m1, m2 := members(nodes[0]), members(nodes[1]); m1 != spanned[0] || m2 != spanned[1] {
			return fmt.Sprintf("room members after healing: node1 %d, node2 %d; want %v", m1, m2, spanned)
		}
		return ""
	}); c != "" {
		t.Error(c)
	}
}
