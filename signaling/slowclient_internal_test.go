package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/sfu"
)

// heldListener hands out the server's side of each TCP connection with a
// small send buffer, counting the writes in progress and holding Close
// until release is closed (once hold is set).
type heldListener struct {
	net.Listener
	writing atomic.Int32 // writes in progress on the server's sockets
	hold    atomic.Bool
	release chan struct{}
	closing atomic.Int32 // Close calls that wait for release
}

func (l *heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// 16 KiB (the kernel doubles it) instead of up to 4 MiB autotuned.
	if err := c.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		return nil, err
	}
	return &heldConn{Conn: c, l: l}, nil
}

type heldConn struct {
	net.Conn
	l *heldListener
}

func (c *heldConn) Write(b []byte) (int, error) {
	c.l.writing.Add(1)
	defer c.l.writing.Add(-1)
	return c.Conn.Write(b)
}

func (c *heldConn) Close() error {
	if c.l.hold.Load() {
		c.l.closing.Add(1)
		<-c.l.release
	}
	return c.Conn.Close()
}

// TestSendNeverWaitsForTheSocket: sfu.EventSink.Send must not block (the
// SFU calls it under room locks). A real client that stops reading fills
// the socket's buffers until the connection's writer is stuck in a
// Write; the queue is then filled, and Send on the full queue must return
// while the writer is still stuck. Closing the socket is held until Send
// has returned: a Send that closed the socket itself, or waited for the
// write lock before doing so (gorilla's WriteControl does, for up to its
// deadline), never returns and the test fails at its 5 s guard. Once the
// close is let through the connection ends, the client is told it left
// ("dropped"), and no goroutine is left behind. Version 2 clients'
// events go through sendBatched and its lock, version 1 clients' not.
func TestSendNeverWaitsForTheSocket(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("version %d", version), func(t *testing.T) { testSendNeverWaits(t, version) })
	}
}

func testSendNeverWaits(t *testing.T, version int) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	mcfg := sfu.Default()
	mcfg.UDPPort = 0
	mcfg.NodeIP = "127.0.0.1"
	mcfg.RemoteNetworks = []string{"127.0.0.0/8"}
	core, err := sfu.New(mcfg, sfu.Options{Logger: log, Metrics: sfu.NewMetrics(nil)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.SendQueue = 8
	cfg.PingInterval = time.Minute // the client reads nothing, pongs included
	cfg.PongTimeout = 2 * time.Minute
	keys := Keys{"test": "0123456789abcdef0123456789abcdef"}
	s := NewServer(cfg, keys, LocalBackend{SFU: core}, log)
	hs := httptest.NewUnstartedServer(s)
	ln := &heldListener{Listener: hs.Listener, release: make(chan struct{})}
	hs.Listener = ln
	hs.Start()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(ln.release) }) }
	defer func() {
		release()
		hs.Close()
		_ = core.Close()
		s.Close()
	}()

	// The client's receive buffer is small too, set before connecting so
	// that the window is small from the start.
	dialer := websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}).DialContext}
	ws, _, err := dialer.DialContext(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	tok, err := keys.Mint("test", TokenRequest{Room: "slow", Identity: fmt.Sprintf("slow-client-%d", version), Grants: Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"type": "join", "version": version, "token": tok}); err != nil {
		t.Fatal(err)
	}
	// From here on the client reads nothing.

	var c *conn
	waitFor(t, ctx, "the client to join", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for sc := range s.conns {
			c = sc
		}
		return c != nil && c.joined.Load() != nil
	})

	// One offer larger than every buffer between the writer and the
	// client (16 KiB doubled on the server, 4 KiB doubled on the client):
	// once the writer has taken it from the queue, it is stuck writing it
	// for as long as the client does not read.
	huge := sfu.SubscriberOffer{SDP: strings.Repeat("a=x\r\n", (4<<20)/5)}
	c.Send(huge)
	waitFor(t, ctx, "the writer to take the offer", func() bool { return len(c.out) == 0 && ln.writing.Load() == 1 })
	for i := range cap(c.out) {
		c.Send(sfu.TrackUnpublished{ParticipantID: "PA_x", TrackID: fmt.Sprintf("TR_%d", i)})
	}
	if len(c.out) != cap(c.out) {
		t.Fatalf("queue holds %d of %d: the writer is not stuck", len(c.out), cap(c.out))
	}

	// The queue is full: the next Send drops the client. It must return
	// at once, whatever the socket does, and so must the ones after it.
	ln.hold.Store(true)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		c.Send(sfu.TrackUnpublished{ParticipantID: "PA_x", TrackID: "TR_overflow"})
		for i := range 100 {
			c.Send(sfu.ParticipantLeft{ParticipantID: fmt.Sprintf("PA_%d", i)})
			c.Send(sfu.TrackUnpublished{ParticipantID: "PA_x", TrackID: fmt.Sprintf("TR_more_%d", i)})
		}
	}()
	guard := time.NewTimer(5 * time.Second) // only to fail instead of hanging
	defer guard.Stop()
	select {
	case <-returned:
	case <-guard.C:
		release()
		t.Fatalf("Send on a full queue did not return within 5 s (%d socket closes were waiting): it waits for the socket", ln.closing.Load())
	}
	if n := ln.writing.Load(); n != 1 {
		t.Fatalf("%d writes in progress when Send returned; the writer should still be stuck", n)
	}
	if !c.closing.Load() {
		t.Fatal("the connection is not marked as closing")
	}

	// Let the socket close: the connection ends, the client sees its end,
	// and the session is gone.
	release()
	waitFor(t, ctx, "the connection to end", func() bool { return s.Connections() == 0 })
	if got := testutil.ToFloat64(s.metrics.Departures.WithLabelValues(departDropped)); got != 1 {
		t.Errorf("departures %q = %v, want 1", departDropped, got)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the client's socket is still open: %v", err)
	}
	t.Logf("the client's read ended with %v", err)
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
