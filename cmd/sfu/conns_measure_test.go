package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestMeasureIdleConnections measures what idle connections from one
// client cost the sfu binary with the default configuration, and prints
// it: 2,000 attempted WebSockets that never join, 500 TCP connections that
// never send a request, and 500 keep-alive connections silent after one
// request. The client counts as remote (exempt_addresses: []). It takes
// about a minute, so it runs only with SFU_MEASURE_CONNS=1;
// SFU_MEASURE_BIN=PATH measures another build of the binary with its
// defaults, printing only.
func TestMeasureIdleConnections(t *testing.T) {
	if os.Getenv("SFU_MEASURE_CONNS") != "1" {
		t.Skip("set SFU_MEASURE_CONNS=1 to measure idle connections (about a minute)")
	}
	bin := os.Getenv("SFU_MEASURE_BIN")
	check := bin == ""
	if bin == "" {
		bin = sfuBinary(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"--listen", addr, "--udp-port", "0", "--node-ip", "127.0.0.1", "--dev", "--log", "warn"}
	if check {
		// The measuring client is on loopback, which is exempt from the
		// per-address cap by default: make it count as a remote client.
		cfg := filepath.Join(t.TempDir(), "sfu.yaml")
		if err := os.WriteFile(cfg, []byte("signaling:\n  exempt_addresses: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := scrape(addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sfu did not come up")
		}
	}
	figures := func(what string) (goroutines, fds int) {
		time.Sleep(300 * time.Millisecond) // let the server take what was just sent
		m, err := scrape(addr)
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		rss := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(status)
		kb := 0
		if rss != nil {
			kb, _ = strconv.Atoi(string(rss[1]))
		}
		goroutines = int(m["go_goroutines"])
		t.Logf("%-58s goroutines %5d  fds %5d  RSS %4d MiB  ws held %4.0f", what+":", goroutines, len(entries), kb>>10, m["sfu_ws_connections"])
		return goroutines, len(entries)
	}
	baseG, baseFD := figures("baseline")

	// 2,000 WebSockets from one address that never join.
	var held []*websocket.Conn
	statuses := map[int]int{}
	for range 2000 {
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
		switch {
		case err == nil:
			held = append(held, ws)
			statuses[http.StatusSwitchingProtocols]++
		case resp != nil:
			statuses[resp.StatusCode]++
		default:
			t.Fatalf("dial: %v", err)
		}
	}
	t.Logf("2000 WebSocket attempts from one address: %v (status: count)", statuses)
	g, fd := figures(fmt.Sprintf("%d idle WebSockets held", len(held)))
	codes := map[int]int{}
	start := time.Now()
	for _, ws := range held {
		_ = ws.SetReadDeadline(start.Add(15 * time.Second))
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			codes[ce.Code]++
		} else {
			codes[0]++ // not closed by the server in time
		}
		ws.Close()
	}
	t.Logf("the idle WebSockets, within %v: %v (close code: count; 0 = still open)", time.Since(start).Round(time.Second), codes)
	g2, fd2 := figures("after the join timeout")
	if check {
		if statuses[http.StatusSwitchingProtocols] != 50 || statuses[http.StatusTooManyRequests] != 1950 {
			t.Errorf("accepted %v, want 50 accepted and 1950 refused 429", statuses)
		}
		if codes[4408] != len(held) {
			t.Errorf("close codes %v, want 4408 for all", codes)
		}
		if g < baseG+100 || fd < baseFD+50 || g2 > baseG+2 || fd2 > baseFD+2 {
			t.Errorf("goroutines %d -> %d -> %d, fds %d -> %d -> %d: want them held, then back", baseG, g, g2, baseFD, fd, fd2)
		}
	}

	// 500 connections that never send a request, and 500 keep-alive
	// connections silent after one.
	silent := dialMany(t, addr, 500, "")
	keepAlive := dialMany(t, addr, 500, "GET /healthz HTTP/1.1\r\nHost: sfu\r\n\r\n")
	figures("500 silent + 500 idle keep-alive HTTP connections")
	report := func(what string, conns []net.Conn, within time.Duration) {
		start := time.Now()
		closed := 0
		var last time.Duration
		for _, c := range conns {
			_ = c.SetReadDeadline(start.Add(within))
			if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
				closed++
				last = time.Since(start)
			}
			c.Close()
		}
		t.Logf("%s: %d of %d closed by the server, the last %v after we began waiting", what, closed, len(conns), last.Round(100*time.Millisecond))
		if check && closed != len(conns) {
			t.Errorf("%s: %d of %d closed", what, closed, len(conns))
		}
	}
	report("silent connections (read_header_timeout 5s)", silent, 10*time.Second)
	figures("after read_header_timeout")
	report("idle keep-alive connections (idle_timeout 30s)", keepAlive, 35*time.Second)
	figures("after idle_timeout")
}

// dialMany opens n TCP connections to addr and writes request on each,
// reading its response.
func dialMany(t *testing.T, addr string, n int, request string) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if request != "" {
			if _, err := io.WriteString(c, request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		conns = append(conns, c)
	}
	return conns
}

// scrape reads the unlabelled samples of the node's /metrics, on a
// connection of its own that it closes.
func scrape(addr string) (map[string]float64, error) {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}
