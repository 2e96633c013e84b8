package node_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// TestHTTPTimeouts runs a node with short HTTP timeouts: a connection that
// sends nothing is closed after ReadHeaderTimeout, a keep-alive one after
// IdleTimeout, a CPU profile longer than WriteTimeout is still served, and
// a joined WebSocket outlives all of them. The signaling instruments are
// on /metrics.
func TestHTTPTimeouts(t *testing.T) {
	n := nodetest.Start(t, func(c *node.Config) {
		c.HTTP = node.HTTPConfig{
			ReadHeaderTimeout: 500 * time.Millisecond,
			ReadTimeout:       time.Second,
			WriteTimeout:      time.Second,
			IdleTimeout:       time.Second,
		}
	})
	addr := n.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tok, err := n.Keys().Mint("dev", signaling.TokenRequest{Room: "timeouts", Identity: "ws", Grants: signaling.Grants{Subscribe: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ws, err := loadtest.Dial(ctx, loadtest.Options{URL: "ws://" + addr + "/ws", Token: tok, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	// closedWithin waits for the server to close c, and fails if it does
	// not within limit.
	closedWithin := func(what string, c net.Conn, limit time.Duration) {
		t.Helper()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(limit))
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, io.EOF) {
			t.Fatalf("%s: read %v, want the server to close it within %v", what, err, limit)
		}
		t.Logf("%s: closed by the server after %v", what, time.Since(start).Round(10*time.Millisecond))
	}
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	keepAlive, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer keepAlive.Close()
	if _, err := io.WriteString(keepAlive, "GET /healthz HTTP/1.1\r\nHost: sfu\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(keepAlive), nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("keep-alive request: %v, %+v", err, resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	closedWithin("a connection that sends nothing", silent, 5*time.Second)
	closedWithin("an idle keep-alive connection", keepAlive, 5*time.Second)

	// pprof extends the write deadline of a profile by its duration.
	resp, err = http.Get("http://" + addr + "/debug/pprof/profile?seconds=2")
	if err != nil {
		t.Fatal(err)
	}
	profile, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(profile) < 2 || profile[0] != 0x1f || profile[1] != 0x8b {
		t.Errorf("2 s CPU profile with a 1 s write timeout: %d, %d bytes, %v", resp.StatusCode, len(profile), err)
	}

	// The WebSocket joined seconds ago, past every HTTP timeout.
	if err := ws.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "pong" || m.Type == "close" }); err != nil {
		t.Fatal(err)
	}
	for _, m := range ws.Messages() {
		if m.Type == "close" {
			t.Fatalf("the WebSocket was closed: %s %q", m.Code, m.Message)
		}
	}

	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"sfu_ws_connections 1", `sfu_ws_refused_total{reason="address_full"} 0`,
		`sfu_ws_refused_total{reason="server_full"} 0`, "sfu_ws_join_timeouts_total 0", "sfu_ws_joins_total 1"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
}

// TestHTTPConfigYAML reads the HTTP timeouts from the YAML file, keeps the
// defaults of those it does not set, and refuses a negative one.
func TestHTTPConfigYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sfu.yaml")
	if err := os.WriteFile(path, []byte("http:\n  idle_timeout: 7s\n  write_timeout: 0s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := node.Default().HTTP
	want.IdleTimeout, want.WriteTimeout = 7*time.Second, 0
	if cfg.HTTP != want {
		t.Errorf("http config %+v, want %+v", cfg.HTTP, want)
	}
	if err := os.WriteFile(path, []byte("http:\n  read_timeout: -1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := node.LoadConfig(path); err != nil || cfg.Validate() == nil {
		t.Errorf("a negative read_timeout was accepted (load: %v)", err)
	}
}
