// Package nodetest starts nodes for tests, as httptest starts HTTP
// servers: on loopback, on ports the system picks, shut down (and checked
// to have stopped cleanly) when the test ends.
package nodetest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
)

// Config is node.Default on ip (a loopback address): HTTP and media on
// ports the system picks, only loopback ICE candidates accepted, in
// development mode.
func Config(ip string) node.Config {
	cfg := node.Default()
	cfg.Listen = ip + ":0"
	cfg.SFU.UDPPort = 0
	cfg.SFU.NodeIP = ip
	cfg.SFU.RemoteNetworks = []string{"127.0.0.0/8"}
	return cfg
}

// Start runs a node with Config("127.0.0.1") as tweak changes it, logging
// warnings to stderr, and shuts it down when the test ends: Shutdown and
// Serve must both return nil within 5 s.
func Start(t testing.TB, tweak func(*node.Config), opts ...node.Option) *node.Node {
	t.Helper()
	cfg := Config("127.0.0.1")
	if tweak != nil {
		tweak(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.New(cfg, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown of the node on %s: %v", n.Addr(), err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve on %s: %v", n.Addr(), err)
			}
		case <-ctx.Done():
			t.Errorf("serve on %s did not return after shutdown", n.Addr())
		}
	})
	return n
}
