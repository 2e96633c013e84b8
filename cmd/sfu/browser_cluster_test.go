package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// TestBrowsersThroughThreeNodes: three nodes on one shared state, and the
// real web client in three headless Chromium browsers, each opening the
// same room through a different node. The room lives on one node; each
// browser decodes the video of the other two, whichever node its page
// and WebSocket came from.
func TestBrowsersThroughThreeNodes(t *testing.T) {
	exe := chromiumPath(t)
	m := cluster.NewMemory(time.Now)
	store := cluster.Store{Registry: m, Directory: m, Bus: m}
	names := []string{"Ada", "Grace", "Linus"}
	var (
		nodes    []*node.Node
		browsers []*browser
		ids      []string
		opened   []time.Time
	)
	for i := range names {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		n := nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
			sfuPath(c)
		}, node.WithStore(store))
		nodes = append(nodes, n)
		b, id, at := joinRoom(t, exe, n, "spread", names[i:i+1], "")
		browsers, ids, opened = append(browsers, b...), append(ids, id...), append(opened, at...)
	}
	for i, b := range browsers {
		waitDecoding(t, b, names[i], i, ids, opened[i])
	}
	hosts := 0
	for i, n := range nodes {
		if st, ok := n.SFU().RoomState("spread"); ok {
			hosts++
			t.Logf("the room is on node%d with %d participants", i+1, len(st.Participants))
		}
	}
	if hosts != 1 {
		t.Errorf("the room is on %d nodes, want one", hosts)
	}
}
