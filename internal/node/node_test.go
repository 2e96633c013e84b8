package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// devToken mints a token of n's development key for identity in room,
// to publish and subscribe.
func devToken(t *testing.T, n *node.Node, room, identity string) string {
	t.Helper()
	tok, err := n.Keys().Mint("dev", signaling.TokenRequest{Room: room, Identity: identity,
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wsURL is n's signaling endpoint.
func wsURL(n *node.Node) string { return "ws://" + n.Addr().String() + "/ws" }

// TestWithStore: a node on a shared state given to it announces itself
// there with its media address, claims the rooms its clients join and
// records them as members, and on Shutdown withdraws and leaves no room
// state behind.
func TestWithStore(t *testing.T) {
	store := cluster.NewMemory(time.Now)
	cfg := nodetest.Config("127.0.0.1")
	cfg.Cluster.NodeID = "alpha"
	n, err := node.New(cfg, slog.New(slog.DiscardHandler),
		node.WithStore(cluster.Store{Registry: store, Directory: store, Bus: store}))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	nodes, err := store.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != "alpha" {
		t.Fatalf("registry holds %+v (%v), want node alpha", nodes, err)
	}
	if got, want := nodes[0].MediaAddrs, []string{n.MediaAddr().String()}; !slices.Equal(got, want) {
		t.Errorf("alpha advertises media on %v, want %v", got, want)
	}
	c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: devToken(t, n, "hall", "ann"), LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if host, err := store.Host(ctx, "hall"); err != nil || host != "alpha" {
		t.Errorf("room hall is hosted by %q (%v), want alpha", host, err)
	}
	// The member is recorded once the join is done, just after the
	// client hears it joined.
	if c := settle(time.Now().Add(5*time.Second), func() string {
		if members, err := store.Members(ctx, "hall"); err != nil || len(members) != 1 || members[0].Node != "alpha" {
			return fmt.Sprintf("room hall has members %+v (%v), want one on alpha", members, err)
		}
		return ""
	}); c != "" {
		t.Error(c)
	}
	c.Close()

	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if nodes, _ := store.Nodes(ctx); len(nodes) != 0 {
		t.Errorf("registry holds %+v after shutdown, want nothing", nodes)
	}
	if host, _ := store.Host(ctx, "hall"); host != "" {
		t.Errorf("room hall still hosted by %q after everyone left", host)
	}
}

// TestShutdownWithoutServe: a node shut down without having served frees
// its HTTP and media addresses.
func TestShutdownWithoutServe(t *testing.T) {
	n, err := node.New(nodetest.Config("127.0.0.1"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, mediaAddr := n.Addr().String(), n.MediaAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		t.Errorf("HTTP address still taken after shutdown: %v", err)
	} else {
		ln.Close()
	}
	pc, err := net.ListenPacket("udp4", mediaAddr)
	if err != nil {
		t.Errorf("media address still taken after shutdown: %v", err)
	} else {
		pc.Close()
	}
}
