package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sfu.yaml")
	yaml := "listen: \":9000\"\nsfu:\n  udp_port: 9001\n  node_ip: 10.0.0.1\nsignaling:\n  rate_burst: 7\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SFU_UDP_PORT", "9002")
	t.Setenv("SFU_KEYS", "")
	cfg, err := loadConfig([]string{"--config", path, "--node-ip", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9000" || cfg.SFU.UDPPort != 9002 || cfg.SFU.NodeIP != "127.0.0.1" || cfg.Signaling.RateBurst != 7 {
		t.Errorf("got listen %q udp %d node-ip %q burst %d; want file < env < flag",
			cfg.Listen, cfg.SFU.UDPPort, cfg.SFU.NodeIP, cfg.Signaling.RateBurst)
	}
	if cfg.Signaling.PongTimeout != signaling.Default().PongTimeout {
		t.Errorf("defaults lost for keys the file does not set")
	}

	t.Setenv("SFU_TURN_PORT", "3480")
	cfg, err = loadConfig([]string{"--turn", "--node-ip", "203.0.113.5", "--turn-tls-port", "-1", "--turn-secret", "a-secret-of-the-cluster", "--turn-relay-ports", "50000-50099"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TURN.Enabled || cfg.TURN.UDPPort != 3480 || cfg.TURN.TCPPort != 3480 || cfg.TURN.TLSPort != -1 || cfg.TURN.Secret != "a-secret-of-the-cluster" || cfg.TURN.PublicIP != "" ||
		cfg.TURN.RelayPortMin != 50000 || cfg.TURN.RelayPortMax != 50099 {
		t.Errorf("turn settings %+v", cfg.TURN)
	}

	if !cfg.SFU.P2P.Enabled || cfg.SFU.P2P.Delay != 10*time.Second {
		t.Errorf("p2p %+v, want on by default with a 10 s delay", cfg.SFU.P2P)
	}
	if err := os.WriteFile(path, []byte("sfu:\n  p2p:\n    enabled: false\n    delay: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SFU_P2P", "true")
	for _, tc := range []struct {
		args []string
		want bool
	}{{[]string{"--config", path}, true}, {[]string{"--config", path, "--p2p=false"}, false}} {
		cfg, err = loadConfig(tc.args)
		if err != nil || cfg.SFU.P2P.Enabled != tc.want || cfg.SFU.P2P.Delay != 3*time.Second {
			t.Errorf("loadConfig(%q): p2p %+v (%v), want enabled %v, the file's delay", tc.args, cfg.SFU.P2P, err, tc.want)
		}
	}
	t.Setenv("SFU_P2P", "")

	for _, bad := range [][]string{
		{"--p2p=maybe"},
		{"--turn", "--node-ip", "127.0.0.1", "--turn-relay-ports", "50000"},
		{"--turn", "--node-ip", "127.0.0.1", "--turn-relay-ports", "60000-50000"},
		{"--turn", "--node-ip", ""},                                    // no address to relay at
		{"--turn", "--node-ip", "127.0.0.1", "--turn-secret", "short"}, // secret too short
		{"--turn-tls-port", "x"},
		{"--udp-port", "70000"},
		{"--node-ip", "not-an-ip"},
		{"--config", filepath.Join(dir, "missing.yaml")},
		{"stray"},
	} {
		if _, err := loadConfig(bad); err == nil {
			t.Errorf("loadConfig(%q) accepted bad input", bad)
		}
	}
	if err := os.WriteFile(path, []byte("lisen: typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig([]string{"--config", path}); err == nil {
		t.Error("unknown YAML key accepted")
	}
}

func TestTokenCommand(t *testing.T) {
	var out bytes.Buffer
	keys := "k1:0123456789abcdef0123456789abcdef"
	if err := runToken([]string{"--keys", keys, "--room", "r1", "--identity", "ann", "--publish=false", "--ttl", "1h"}, &out); err != nil {
		t.Fatal(err)
	}
	ks, _ := signaling.ParseKeys(keys)
	claims, err := ks.Verify(strings.TrimSpace(out.String()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Room != "r1" || claims.Subject != "ann" || claims.Name != "ann" || claims.Grants.Publish || !claims.Grants.Subscribe {
		t.Errorf("claims %+v", claims)
	}
	if exp := time.Until(claims.ExpiresAt.Time); exp < 59*time.Minute || exp > time.Hour {
		t.Errorf("expires in %v, want 1h", exp)
	}
	if claims.Grants.P2P != nil || claims.Grants.Data != nil || !claims.Grants.MaySendData() {
		t.Errorf("grants %+v, want p2p and data left out (true)", claims.Grants)
	}
	out.Reset()
	if err := runToken([]string{"--keys", keys, "--room", "r1", "--identity", "ann", "--p2p=false", "--data=false"}, &out); err != nil {
		t.Fatal(err)
	}
	if claims, err = ks.Verify(strings.TrimSpace(out.String()), time.Now()); err != nil || claims.Grants.P2P == nil || *claims.Grants.P2P || claims.Grants.MaySendData() {
		t.Errorf("--p2p=false --data=false: grants %+v (%v), want p2p and data false", claims.Grants, err)
	}
	out.Reset()
	if err := runToken([]string{"--keys", keys, "--identity", "ops", "--admin"}, &out); err != nil {
		t.Fatal(err)
	}
	if claims, err = ks.Verify(strings.TrimSpace(out.String()), time.Now()); err != nil || claims.Room != "" || !claims.Grants.Admin || claims.Grants.Publish || claims.Grants.Subscribe {
		t.Errorf("--admin without --room: %+v (%v), want an operator's token for no room", claims, err)
	}
	for _, args := range [][]string{
		{"--keys", keys, "--identity", "x"},                        // no room, not an operator
		{"--keys", keys, "--room", "r1"},                           // no identity
		{"--room", "r1", "--identity", "x", "--keys", ""},          // no keys
		{"--keys", "short:abc", "--room", "r1", "--identity", "x"}, // weak secret
		{"--keys", keys, "--room", "bad\x01room", "--identity", "x"},
	} {
		if err := runToken(args, &out); err == nil {
			t.Errorf("runToken(%q) succeeded", args)
		}
	}
}

// TestServerProcess runs the real binary: it serves health, metrics, the
// web client and the token endpoint, and on SIGTERM tells a connected
// client goodbye and exits within 5 s.
func TestServerProcess(t *testing.T) {
	bin := sfuBinary(t)
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--udp-port", "0", "--node-ip", "127.0.0.1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := bufio.NewScanner(stdout)
	var base string
	re := regexp.MustCompile(`http://\S+/`)
	for lines.Scan() {
		if m := re.FindString(lines.Text()); m != "" {
			base = m
			break
		}
	}
	if base == "" {
		t.Fatal("server did not print its URL")
	}
	go func() {
		for lines.Scan() {
		}
	}()

	for path, want := range map[string]string{"healthz": "ok", "metrics": "sfu_participants", "": "<form", "room/x": "<video"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(body.String(), want) {
			t.Errorf("GET /%s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(base + "api/token?room=lobby&name=Ann")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token, Identity string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.Token == "" {
		t.Fatal("development mode gave no token")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(base, "http") + "ws"
	c, err := loadtest.Dial(ctx, loadtest.Options{URL: ws, Token: tok.Token, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "answer" }); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "bye" && m.Reason == "shutdown" }); err != nil {
		t.Errorf("client was not told about the shutdown: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
		t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGTERM")
	}
}
