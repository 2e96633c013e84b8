package main

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// startTestNode runs a node on loopback, in development mode unless tweak
// configures keys, and shuts it down when the test ends.
func startTestNode(t *testing.T, tweak func(*Config)) *node {
	t.Helper()
	cfg := defaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.SFU.UDPPort = 0
	cfg.SFU.NodeIP = "127.0.0.1"
	cfg.SFU.RemoteNetworks = []string{"127.0.0.0/8"}
	if tweak != nil {
		tweak(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := newNode(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}
