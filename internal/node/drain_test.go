package node_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/loadtest"
)

// TestDrainMovesClients: node1 hosts a room; Ann's WebSocket is on node1,
// Bob's on node2 (relayed to node1). Draining node1 makes /healthz say
// "draining", tells both clients to go (Bob through node2), releases the
// room, and returns once node1 is empty; joining again through node2 then
// places the room on node2, where both receive each other's media.
func TestDrainMovesClients(t *testing.T) {
	store := memoryStore()
	nodes := startCluster(t, store, "127.0.0.1", "127.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const room = "standup"
	join := func(n *node.Node, who string) *loadtest.Client {
		t.Helper()
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: clusterToken(t, room, who), LoopbackOnly: true})
		if err != nil {
			t.Fatalf("%s joining: %v", who, err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ann, bob := join(nodes[0], "ann"), join(nodes[1], "bob")
	expectMedia(t, bob, ann, nodes[0].MediaAddr().String())

	dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
	defer dcancel()
	if err := nodes[0].Drain(dctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := nodes[0].SFU().RoomCount(); got != 0 {
		t.Errorf("node1 holds %d rooms after draining", got)
	}
	if code, body := get(t, "http://"+nodes[0].Addr().String()+"/healthz"); code != http.StatusServiceUnavailable || body != "draining" {
		t.Errorf("/healthz of the draining node: %d %q, want 503 \"draining\"", code, body)
	}
	if code, body := get(t, "http://"+nodes[1].Addr().String()+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz of node2: %d %q, want 200 \"ok\"", code, body)
	}
	if m, err := bob.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "bye" }); err != nil || m.Reason != "shutdown" {
		t.Errorf("Bob, relayed through node2, got bye %+v (%v), want reason shutdown", m, err)
	}
	if _, err := ann.WaitFor(ctx, func(loadtest.Message) bool { return false }); !errors.Is(err, loadtest.ErrDisconnected) {
		t.Errorf("Ann's connection to node1: %v, want it closed", err)
	}
	infos, err := store.Registry.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range infos {
		if n.ID == "node1" && !n.Draining {
			t.Errorf("the registry does not show node1 draining: %+v", n)
		}
	}
	if host, err := store.Directory.Host(ctx, room); err != nil || host == "node1" {
		t.Errorf("the room is still hosted by %q (%v) after node1 drained", host, err)
	}

	ann2, bob2 := join(nodes[1], "ann"), join(nodes[1], "bob")
	expectMedia(t, ann2, bob2, nodes[1].MediaAddr().String())
	expectMedia(t, bob2, ann2, nodes[1].MediaAddr().String())
	if host, err := store.Directory.Host(ctx, room); err != nil || host != "node2" {
		t.Errorf("after the rejoin the room is hosted by %q (%v), want node2", host, err)
	}
}

// get fetches url and returns the status and the trimmed body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}
