package sfu_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// testNode is an SFU with signaling in front of it on loopback, so that
// real clients (loadtest.Client) join its rooms.
type testNode struct {
	t     *testing.T
	sfu   *sfu.SFU
	sig   *signaling.Server
	http  *httptest.Server
	keys  signaling.Keys
	wsURL string
}

var identitySeq atomic.Int64

// testLog logs warnings and errors to stderr.
func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newTestNode(t *testing.T, opts sfu.Options) *testNode {
	t.Helper()
	cfg := sfu.Default()
	cfg.UDPPort = 0
	cfg.NodeIP = "127.0.0.1"
	cfg.RemoteNetworks = []string{"127.0.0.0/8"}
	log := testLog()
	opts.Logger = log
	core, err := sfu.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	keys := signaling.Keys{"test": "0123456789abcdef0123456789abcdef"}
	sig := signaling.NewServer(signaling.Default(), keys, signaling.LocalBackend{SFU: core}, log)
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	n := &testNode{t: t, sfu: core, sig: sig, http: httptest.NewServer(mux), keys: keys}
	n.wsURL = "ws" + strings.TrimPrefix(n.http.URL, "http") + "/ws"
	t.Cleanup(func() {
		n.http.Close()
		_ = n.sfu.Close()
		n.sig.Close()
	})
	return n
}

// dial connects a new identity to room with every grant.
func (n *testNode) dial(ctx context.Context, room string) (*loadtest.Client, error) {
	id := fmt.Sprintf("user-%d", identitySeq.Add(1))
	tok, err := n.keys.Mint("test", signaling.TokenRequest{Room: room, Identity: id, Name: id,
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		return nil, err
	}
	return loadtest.Dial(ctx, loadtest.Options{URL: n.wsURL, Token: tok, LoopbackOnly: true})
}

// join is dial that fails the test on error and closes the client at the end.
func (n *testNode) join(ctx context.Context, room string) *loadtest.Client {
	n.t.Helper()
	c, err := n.dial(ctx, room)
	if err != nil {
		n.t.Fatalf("join %s: %v", room, err)
	}
	n.t.Cleanup(c.Close)
	return c
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receivedFrom sums what c received, unique packets and bytes, on the live
// tracks from participant id, and how many such tracks there are.
func receivedFrom(c *loadtest.Client, id string) (tracks, packets, bytes int) {
	for _, tc := range c.Received() {
		if tc.ParticipantID == id && !tc.Ended {
			tracks++
			packets += tc.Unique
			bytes += tc.Bytes
		}
	}
	return tracks, packets, bytes
}

// roomLog records the room hooks' calls, as "+name" and "-name".
type roomLog struct {
	mu     sync.Mutex
	events []string
}

func (l *roomLog) add(ev string) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *roomLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// options are SFU options whose room hooks record into l.
func (l *roomLog) options() sfu.Options {
	return sfu.Options{
		RoomOpened: func(name string) { l.add("+" + name) },
		RoomClosed: func(name string) { l.add("-" + name) },
	}
}

// nullSink discards events.
type nullSink struct{}

func (nullSink) Send(sfu.Event) {}

// newSFU is an SFU on loopback without signaling, for tests that drive
// Join themselves.
func newSFU(t *testing.T, opts sfu.Options) *sfu.SFU {
	t.Helper()
	cfg := sfu.Default()
	cfg.UDPPort = 0
	cfg.NodeIP = "127.0.0.1"
	opts.Logger = testLog()
	s, err := sfu.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// who is a new identity with every grant.
func who() sfu.Identity {
	id := fmt.Sprintf("user-%d", identitySeq.Add(1))
	return sfu.Identity{Identity: id, Name: id, Grants: sfu.Grants{Publish: true, Subscribe: true}}
}
