package node_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// TestDevTokenWithinLifetime: development mode's /api/token mints tokens
// the node accepts when max_token_lifetime is below its usual 6 h.
func TestDevTokenWithinLifetime(t *testing.T) {
	n := nodetest.Start(t, func(c *node.Config) { c.Signaling.MaxTokenLifetime = time.Hour })
	code, body := request(t, "GET", "http://"+n.Addr().String()+"/api/token?room=lobby", "", "")
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || code != 200 {
		t.Fatalf("/api/token: %d %q", code, body)
	}
	c, err := n.Signaling().Authenticate(context.Background(), tok.Token)
	if err != nil {
		t.Fatalf("the node refuses its own development token: %v", err)
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life != time.Hour {
		t.Errorf("lifetime %s, want 1h", life)
	}
}

// TestMetricsListenInUse: a metrics_listen address that cannot be bound
// stops the start, and frees what was taken.
func TestMetricsListenInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := nodetest.Config("127.0.0.1")
	cfg.MetricsListen = ln.Addr().String()
	if n, err := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		_ = n.Shutdown(context.Background())
		t.Fatal("started with its metrics address taken")
	} else if !strings.Contains(err.Error(), "metrics listen") {
		t.Errorf("error %v does not say which address", err)
	}
}
