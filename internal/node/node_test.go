package node_test

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
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

// countingBackend is signaling.LocalBackend counting its joins and
// closes.
type countingBackend struct {
	signaling.LocalBackend
	joins, closes atomic.Int32
}

func (b *countingBackend) Join(room string, who sfu.Identity, sink sfu.EventSink) (signaling.Session, error) {
	b.joins.Add(1)
	return b.LocalBackend.Join(room, who, sink)
}

func (b *countingBackend) Close() error {
	b.closes.Add(1)
	return nil
}

// TestWithBackend: the signaling server joins clients through the
// backend WithBackend builds around the node's own SFU, and Shutdown
// closes that backend once.
func TestWithBackend(t *testing.T) {
	var built *sfu.SFU
	b := &countingBackend{}
	n, err := node.New(nodetest.Config("127.0.0.1"), slog.New(slog.DiscardHandler),
		node.WithBackend(func(s *sfu.SFU) signaling.Backend {
			built = s
			b.LocalBackend = signaling.LocalBackend{SFU: s}
			return b
		}))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve() }()
	if built == nil || built != n.SFU() {
		t.Errorf("the backend was built around %p, want the node's SFU %p", built, n.SFU())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: devToken(t, n, "hall", "ann"), LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := b.joins.Load(); got != 1 {
		t.Errorf("%d joins through the backend, want 1", got)
	}

	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if got := b.closes.Load(); got != 1 {
		t.Errorf("backend closed %d times by Shutdown, want once", got)
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
