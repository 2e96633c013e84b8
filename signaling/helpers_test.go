package signaling_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// testServer is an in-process SFU with signaling on loopback.
type testServer struct {
	t       *testing.T
	sfu     *sfu.SFU
	sig     *signaling.Server
	http    *httptest.Server
	keys    signaling.Keys
	metrics *sfu.Metrics
	wsURL   string
}

var identitySeq atomic.Int64

func newTestServer(t *testing.T, tweak func(*signaling.Config)) *testServer {
	t.Helper()
	return newTestServerWith(t, tweak, nil)
}

// newTestServerLog is newTestServer logging to log.
func newTestServerLog(t *testing.T, tweak func(*signaling.Config), log *slog.Logger) *testServer {
	t.Helper()
	return newTestServerFull(t, nil, tweak, log)
}

// newTestServerMedia is newTestServer with the media configuration changed
// by media, after the loopback defaults.
func newTestServerMedia(t *testing.T, media func(*sfu.Config), tweak func(*signaling.Config)) *testServer {
	t.Helper()
	return newTestServerFull(t, media, tweak, nil)
}

// newTestServerWith is newTestServer logging to log (warnings to stderr
// when nil), with opts.
func newTestServerWith(t *testing.T, tweak func(*signaling.Config), log *slog.Logger, opts ...signaling.Option) *testServer {
	t.Helper()
	return newTestServerFull(t, nil, tweak, log, opts...)
}

func newTestServerFull(t *testing.T, media func(*sfu.Config), tweak func(*signaling.Config), log *slog.Logger, opts ...signaling.Option) *testServer {
	t.Helper()
	cfg := sfu.Default()
	cfg.UDPPort = 0
	cfg.NodeIP = "127.0.0.1"
	cfg.RemoteNetworks = []string{"127.0.0.0/8"}
	if media != nil {
		media(&cfg)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	metrics := sfu.NewMetrics(nil)
	core, err := sfu.New(cfg, sfu.Options{Logger: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	scfg := signaling.Default()
	if tweak != nil {
		tweak(&scfg)
	}
	keys := signaling.Keys{"test": "0123456789abcdef0123456789abcdef"}
	sig := signaling.NewServer(scfg, keys, signaling.LocalBackend{SFU: core}, log, opts...)
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	ts := &testServer{t: t, sfu: core, sig: sig, http: httptest.NewServer(mux), keys: keys, metrics: metrics}
	ts.wsURL = "ws" + strings.TrimPrefix(ts.http.URL, "http") + "/ws"
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) close() {
	ts.http.Close()
	_ = ts.sfu.Close()
	ts.sig.Close()
}

// token mints a token for a new identity in room.
func (ts *testServer) token(room string, grants signaling.Grants) string {
	ts.t.Helper()
	id := fmt.Sprintf("user-%d", identitySeq.Add(1))
	tok, err := ts.keys.Mint("test", signaling.TokenRequest{Room: room, Identity: id, Name: "Name " + id, Grants: grants, TTL: time.Hour}, time.Now())
	if err != nil {
		ts.t.Fatal(err)
	}
	return tok
}

var allGrants = signaling.Grants{Publish: true, Subscribe: true}

// join connects a synthetic client to room.
func (ts *testServer) join(ctx context.Context, room string, opts ...func(*loadtest.Options)) *loadtest.Client {
	ts.t.Helper()
	o := loadtest.Options{URL: ts.wsURL, Token: ts.token(room, allGrants), LoopbackOnly: true}
	for _, f := range opts {
		f(&o)
	}
	c, err := loadtest.Dial(ctx, o)
	if err != nil {
		ts.t.Fatalf("join %s: %v", room, err)
	}
	ts.t.Cleanup(c.Close)
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

// trackFrom returns the counts of the live track of kind c receives from participant id.
func trackFrom(c *loadtest.Client, id, kind string) (loadtest.TrackCounts, bool) {
	for _, tc := range c.Received() {
		if tc.ParticipantID == id && tc.Kind == kind && !tc.Ended {
			return tc, true
		}
	}
	return loadtest.TrackCounts{}, false
}

func videoFrom(c *loadtest.Client, id string) (loadtest.TrackCounts, bool) {
	return trackFrom(c, id, "video")
}

func audioFrom(c *loadtest.Client, id string) (loadtest.TrackCounts, bool) {
	return trackFrom(c, id, "audio")
}

// receivesFrom waits until c has decoded-worthy media from id: a keyframe
// and at least frames video frames, and some audio.
func receivesFrom(t *testing.T, c *loadtest.Client, id string, frames int) {
	t.Helper()
	eventually(t, 15*time.Second, c.Self.ID+" receiving from "+id, func() bool {
		v, ok := videoFrom(c, id)
		a, aok := audioFrom(c, id)
		return ok && aok && v.Keyframes > 0 && v.Frames >= frames && a.Packets > 10
	})
}
