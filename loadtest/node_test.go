package loadtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// testNode is an SFU node in the test process, on a loopback address of
// its own: media core, signaling and HTTP listener, assembled as
// startSampleTestServer does, and sharing its key. It can go away as a
// node does on SIGTERM (shutdown) or on kill -9 (kill).
type testNode struct {
	addr  string // host:port of the HTTP listener
	media *sfu.SFU
	sig   *signaling.Server
	hs    *http.Server
	ln    *connTracker
	keys  signaling.Keys
	once  sync.Once
}

// startTestNode starts a node listening on addr (host:port; port 0 picks
// one), with the signaling configuration as the options leave it. Its
// media socket is on the same host address.
func startTestNode(t *testing.T, addr string, opts ...func(*signaling.Config)) *testNode {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sfu.Default()
	cfg.UDPPort = 0
	cfg.NodeIP = host
	cfg.RemoteNetworks = []string{"127.0.0.0/8"}
	log := slog.New(slog.DiscardHandler)
	media, err := sfu.New(cfg, sfu.Options{Logger: log, Metrics: sfu.NewMetrics(nil)})
	if err != nil {
		t.Fatal(err)
	}
	keys := signaling.Keys{"test": "0123456789abcdef0123456789abcdef"}
	sigCfg := signaling.Default()
	for _, o := range opts {
		o(&sigCfg)
	}
	sig := signaling.NewServer(sigCfg, keys, signaling.LocalBackend{SFU: media}, log)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = media.Close()
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	n := &testNode{addr: ln.Addr().String(), media: media, sig: sig, keys: keys,
		ln: &connTracker{Listener: ln, conns: map[*silentConn]bool{}}, hs: &http.Server{Handler: mux}}
	go func() { _ = n.hs.Serve(n.ln) }()
	t.Cleanup(func() {
		n.shutdown()
		n.ln.closeAll() // connections silence left open
	})
	return n
}

func (n *testNode) wsURL() string { return "ws://" + n.addr + "/ws" }

// mint is a RunConfig.Token: a token to publish and subscribe in room.
func (n *testNode) mint(_ context.Context, _, room, identity string) (string, error) {
	return n.keys.Mint("test", signaling.TokenRequest{Room: room, Identity: identity, Name: identity,
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
}

// shutdown stops the node as cmd/sfu does on SIGTERM: it stops
// accepting, says bye "shutdown" and closes every WebSocket with 1001,
// and closes every peer connection.
func (n *testNode) shutdown() {
	n.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.hs.Shutdown(ctx) // does not wait for hijacked WebSockets
		_ = n.media.Close()
		n.sig.Close()
	})
}

// drain closes the signaling server but leaves the listener up, as a
// node that is shutting down is for a moment: every upgrade is refused
// with 503. shutdown still ends it.
func (n *testNode) drain() {
	_ = n.media.Close()
	n.sig.Close()
}

// kill makes the node vanish as a process killed with SIGKILL does: the
// kernel closes its sockets, so clients see their TCP connections end
// with no WebSocket close and no bye, and the listener refuses. The media
// core is closed after that, to free it, when nothing can reach the
// clients any more.
func (n *testNode) kill() {
	n.once.Do(func() {
		_ = n.ln.Close()
		n.ln.closeAll()
		_ = n.media.Close()
		n.sig.Close()
		_ = n.hs.Close()
	})
}

// silence makes the node vanish as a machine that lost power or its
// network does: its connections stay open but nothing more comes through
// them either way, not even a FIN, and the listener refuses. The media
// core is closed, so media stops too.
func (n *testNode) silence() {
	n.once.Do(func() {
		_ = n.ln.Close()
		n.ln.silenceAll()
		_ = n.media.Close()
		n.sig.Close()
		_ = n.hs.Close()
	})
}

// connTracker is a listener that remembers the connections it accepted,
// hijacked WebSockets included, so that kill can close them at the TCP
// level and silence can make them go quiet.
type connTracker struct {
	net.Listener
	mu     sync.Mutex
	conns  map[*silentConn]bool
	closed bool
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	sc := &silentConn{Conn: c}
	l.conns[sc] = true
	return sc, nil
}

// closeAll closes every connection accepted, and any accepted later.
func (l *connTracker) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// silenceAll silences every connection accepted, and refuses later ones.
func (l *connTracker) silenceAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.conns {
		c.silent.Store(true)
	}
}

// silentConn is a connection that can go silent: from then on what either
// side sends is lost and closing it does nothing, so the peer hears
// nothing at all, until closeAll.
type silentConn struct {
	net.Conn
	silent atomic.Bool
}

func (c *silentConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b) // deadlines still end it
		if err != nil || !c.silent.Load() {
			return n, err
		}
	}
}

func (c *silentConn) Write(b []byte) (int, error) {
	if c.silent.Load() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *silentConn) Close() error {
	if c.silent.Load() {
		return nil
	}
	return c.Conn.Close()
}

// deadURL is a WebSocket URL on a loopback port nothing listens on: a
// dial is refused.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return "ws://" + addr + "/ws"
}
