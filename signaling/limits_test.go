package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/signaling"
)

// fdCount is the number of file descriptors this process holds.
func fdCount(t *testing.T) int {
	t.Helper()
	fds := openFDs()
	if fds == nil {
		t.Skip("cannot count file descriptors: no /proc/self/fd")
	}
	return len(fds)
}

// dialFrom opens a WebSocket to ts from the loopback address from. It
// returns the socket, or the status and body of the refusal.
func dialFrom(ctx context.Context, t *testing.T, ts *testServer, from string) (*websocket.Conn, int, string) {
	t.Helper()
	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext:   (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext,
	}
	ws, resp, err := d.DialContext(ctx, ts.wsURL, nil)
	if err == nil {
		t.Cleanup(func() { _ = ws.Close() })
		return ws, http.StatusSwitchingProtocols, ""
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return nil, resp.StatusCode, string(body)
}

// closeCode reads ws until the server closes it, and returns the close
// code and text.
func closeCode(t *testing.T, ws *websocket.Conn, within time.Duration) (int, string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
	}
}

// TestConnectionLimits fills the per-address and the total caps with
// sockets that never join, and checks that the extra ones are refused
// with 429 and 503 and a text body, that the join timeout then closes the
// rest with 4408 (even one that keeps sending pings), that the goroutines
// and file descriptors they held are given back, and that a joined pair
// receives media throughout.
func TestConnectionLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const joinTimeout = 2 * time.Second
	ts := newTestServer(t, func(c *signaling.Config) {
		c.JoinTimeout = joinTimeout
		c.MaxConnections = 8
		c.MaxConnectionsPerAddress = 5
		c.ExemptAddresses = nil // the test's clients are all on loopback
	})
	pair := newHealthyPair(ctx, t, ts, "limits") // two connections from 127.0.0.1
	m := ts.sig.Metrics()
	baseGoroutines, baseFDs := runtime.NumGoroutine(), fdCount(t)

	var idle []*websocket.Conn
	refused := func(from string, status int, want string) {
		t.Helper()
		ws, got, body := dialFrom(ctx, t, ts, from)
		if ws != nil || got != status || !strings.Contains(body, want) {
			t.Fatalf("dial from %s: status %d %q; want %d %q", from, got, body, status, want)
		}
	}
	admitted := func(from string) {
		t.Helper()
		ws, status, body := dialFrom(ctx, t, ts, from)
		if ws == nil {
			t.Fatalf("dial from %s refused: %d %q", from, status, body)
		}
		idle = append(idle, ws)
	}
	// One address: five in, then 429.
	for range 5 {
		admitted("127.0.0.2")
	}
	refused("127.0.0.2", http.StatusTooManyRequests, "too many connections from your address")
	refused("127.0.0.2", http.StatusTooManyRequests, "too many connections from your address")
	// Another address: the server is full at eight with the pair, then 503.
	admitted("127.0.0.3")
	refused("127.0.0.3", http.StatusServiceUnavailable, "too many connections")

	if got := testutil.ToFloat64(m.Connections); got != 8 {
		t.Errorf("sfu_ws_connections = %v, want 8", got)
	}
	if got := testutil.ToFloat64(m.Refused.WithLabelValues("address_full")); got != 2 {
		t.Errorf(`sfu_ws_refused_total{reason="address_full"} = %v, want 2`, got)
	}
	if got := testutil.ToFloat64(m.Refused.WithLabelValues("server_full")); got != 1 {
		t.Errorf(`sfu_ws_refused_total{reason="server_full"} = %v, want 1`, got)
	}
	// Each idle socket holds a reader and a writer goroutine on the
	// server, and a file descriptor at either end.
	eventually(t, 5*time.Second, "the idle sockets to hold two goroutines and two fds each", func() bool {
		return runtime.NumGoroutine() >= baseGoroutines+2*len(idle) && fdCount(t) >= baseFDs+2*len(idle)
	})
	t.Logf("%d idle sockets: goroutines %d -> %d, fds %d -> %d (both ends are in this process)",
		len(idle), baseGoroutines, runtime.NumGoroutine(), baseFDs, fdCount(t))
	pair.stillReceiving(t)

	// The first socket sends pings all along: they are answered, and do
	// not postpone its join deadline.
	pinger, pongs := idle[0], 0
	code, text := 0, ""
	for code == 0 {
		if err := pinger.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			break // closed meanwhile; the close frame is still there to read
		}
		_ = pinger.SetReadDeadline(time.Now().Add(joinTimeout + 5*time.Second))
		_, data, err := pinger.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			code, text = ce.Code, ce.Text
		case err != nil:
			t.Fatalf("pinging socket: %v", err)
		case strings.Contains(string(data), `"pong"`):
			pongs++
			time.Sleep(200 * time.Millisecond)
		}
	}
	if code == 0 {
		code, text = closeCode(t, pinger, 5*time.Second)
	}
	if pongs < 3 {
		t.Errorf("the pinging socket got %d pongs before its join deadline", pongs)
	}
	for i, ws := range idle {
		if i > 0 {
			code, text = closeCode(t, ws, joinTimeout+5*time.Second)
		}
		if code != signaling.CloseJoinTimeout || text == "" {
			t.Errorf("idle socket %d closed with %d %q, want %d and why", i, code, text, signaling.CloseJoinTimeout)
		}
		_ = ws.Close()
	}
	if got := testutil.ToFloat64(m.JoinTimeouts); got != float64(len(idle)) {
		t.Errorf("sfu_ws_join_timeouts_total = %v, want %d", got, len(idle))
	}
	eventually(t, 10*time.Second, "the connections to be released", func() bool {
		return testutil.ToFloat64(m.Connections) == 2
	})
	eventually(t, 10*time.Second, fmt.Sprintf("goroutines back to %d and fds to %d", baseGoroutines, baseFDs), func() bool {
		return runtime.NumGoroutine() <= baseGoroutines && fdCount(t) <= baseFDs
	})
	t.Logf("after the join timeout: goroutines %d, fds %d", runtime.NumGoroutine(), fdCount(t))
	pair.stillReceiving(t)

	// The slots are free again.
	admitted("127.0.0.2")
}
