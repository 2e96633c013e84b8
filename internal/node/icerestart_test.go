package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

// TestICERestartThroughAnotherNode: a client whose WebSocket is on one
// node and whose session the room's host serves restarts ICE on both its
// connections: its publisher offer with new credentials and its restart
// request for the subscriber connection cross the cluster, the host
// answers and offers anew, and the media goes on both ways.
func TestICERestartThroughAnotherNode(t *testing.T) {
	nodes := startCluster(t, memoryStore(), "127.0.0.1", "127.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const room = "restarts"
	var clients []*loadtest.Client
	for i, who := range []string{"ann", "bob"} {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(nodes[i]), Token: clusterToken(t, room, who), LoopbackOnly: true})
		if err != nil {
			t.Fatalf("%s joining through node%d: %v", who, i+1, err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	ann, bob := clients[0], clients[1]
	expectMedia(t, ann, bob, nodes[0].MediaAddr().String())
	expectMedia(t, bob, ann, nodes[0].MediaAddr().String())
	ufrag := func(sdp string) string {
		_, rest, _ := strings.Cut(sdp, "a=ice-ufrag:")
		v, _, _ := strings.Cut(rest, "\n")
		return strings.TrimSpace(v)
	}
	pubBefore := ufrag(bob.Publisher().RemoteDescription().SDP)
	subBefore := ufrag(bob.Subscriber().RemoteDescription().SDP)
	if err := bob.RestartPublisherICE(); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(map[string]any{"type": "restart", "target": "subscriber"}); err != nil {
		t.Fatal(err)
	}
	a0, b0 := videoFrames(ann, bob), videoFrames(bob, ann)
	if c := settle(time.Now().Add(20*time.Second), func() string {
		pub, sub := bob.Publisher(), bob.Subscriber()
		switch {
		case ufrag(pub.RemoteDescription().SDP) == pubBefore || ufrag(sub.RemoteDescription().SDP) == subBefore:
			return "no new credentials from the host"
		case pub.ConnectionState().String() != "connected" || sub.ConnectionState().String() != "connected":
			return "publisher " + pub.ConnectionState().String() + ", subscriber " + sub.ConnectionState().String()
		case videoFrames(ann, bob) < a0+60 || videoFrames(bob, ann) < b0+60:
			return "too few frames since the restarts"
		}
		return ""
	}); c != "" {
		t.Fatalf("bob after the restarts: %s", c)
	}
	if p, s := bob.ICERestarts(); p != 1 || s != 1 {
		t.Errorf("bob counted restarts publisher %d, subscriber %d; want 1 and 1", p, s)
	}
	for _, m := range bob.Messages() {
		if m.Type == "error" || m.Type == "client_error" {
			t.Errorf("bob got %s %s %s", m.Type, m.Code, m.Message)
		}
	}
}
