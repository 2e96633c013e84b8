package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/turnserver"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
	"github.com/sfu-project/sfu/web"
)

// Node is one running server: HTTP (web client, signaling, health,
// metrics, operator endpoints) and the media core. It holds no state
// outside itself, so several run in one process.
type Node struct {
	cfg       Config
	metrics   *registry
	log       *slog.Logger
	dev       bool
	keys      signaling.Keys
	sfu       *sfu.SFU
	backend   *cluster.Backend
	redis     redis.UniversalClient // nil without Redis
	chat      signaling.ChatLog     // the rooms' chat: the store's
	signaling *signaling.Server
	http      *http.Server
	ln        net.Listener

	revocations signaling.Revocations
	draining    atomic.Bool
	metricsHTTP *http.Server // nil unless metrics_listen is set
	metricsLn   net.Listener
	turn        *turnserver.Server // nil unless turn.enabled
}

// New validates cfg, opens the node's HTTP listener and media socket and
// assembles it; Serve then serves it, and Shutdown stops it. On error
// nothing stays open.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	n := &Node{cfg: cfg, log: log}
	if cfg.Keys != "" {
		keys, err := signaling.ParseKeys(cfg.Keys)
		if err != nil {
			return nil, err
		}
		n.keys = keys
	}
	n.dev = cfg.Dev || cfg.Keys == ""
	if n.dev {
		if n.keys == nil {
			n.keys = signaling.Keys{}
		}
		for k, v := range signaling.DevKeys() {
			n.keys[k] = v
		}
	}

	reg := newRegistry()
	n.metrics = reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	media, err := sfu.New(cfg.SFU, sfu.Options{Logger: log, Metrics: sfu.NewMetrics(reg), OwnPorts: append(listenPorts(cfg.Listen), cfg.turnPorts()...),
		Relays: cfg.turnRelays()})
	if err != nil {
		return nil, err
	}
	n.sfu = media
	store, client, err := openStore(cfg.Cluster, o.store)
	if err != nil {
		_ = media.Close()
		return nil, err
	}
	n.redis = client
	if store.Chat == nil {
		store.Chat = signaling.NewMemoryChat() // a store given without chat
	}
	n.chat = store.Chat
	n.revocations = signaling.NewMemoryRevocations(cfg.Signaling.MaxRevocations, time.Now)
	if client != nil {
		if n.revocations, err = cluster.NewRedisRevocations(client, time.Now, cluster.WithPrefix(cfg.Cluster.Prefix)); err != nil {
			_ = media.Close()
			_ = client.Close()
			return nil, err
		}
	}
	n.backend = n.newBackend(cfg.Cluster, media, store)
	if err := n.backend.Start(); err != nil {
		_ = media.Close()
		if client != nil {
			_ = client.Close()
		}
		return nil, err
	}
	sigOpts := []signaling.Option{signaling.WithRevocations(n.revocations), signaling.WithChat(n.chat)}
	ice, err := n.startTURN(media)
	if err != nil {
		_ = media.Close()
		n.backend.Close()
		if client != nil {
			_ = client.Close()
		}
		return nil, err
	}
	if ice != nil {
		sigOpts = append(sigOpts, ice)
	}
	n.signaling = signaling.NewServer(cfg.Signaling, n.keys, n.backend, log, sigOpts...)
	reg.MustRegister(n.signaling.Metrics())
	if n.turn != nil {
		reg.MustRegister(n.turn.Metrics())
	}

	mux := http.NewServeMux()
	mux.Handle("/ws", n.signaling)
	mux.HandleFunc("/healthz", n.healthz)
	if n.dev {
		mux.Handle("/api/token", signaling.DevTokenHandler(n.keys, "dev", min(DefaultTokenTTL, cfg.Signaling.MaxTokenLifetime)))
	}
	mux.Handle("/admin/revoke", n.adminOnly(n.revokeHandler()))
	mux.Handle("/debug/rooms/", n.adminOnly(n.roomDebugHandler()))
	// Go's profiler, for operators chasing CPU or memory: `go tool pprof
	// -H "Authorization: Bearer TOKEN" http://HOST/debug/pprof/profile`.
	mux.Handle("/debug/pprof/", n.adminOnly(http.HandlerFunc(pprof.Index)))
	mux.Handle("/debug/pprof/profile", n.adminOnly(http.HandlerFunc(pprof.Profile)))
	mux.Handle("/debug/pprof/trace", n.adminOnly(http.HandlerFunc(pprof.Trace)))
	mux.Handle("/debug/pprof/symbol", n.adminOnly(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("/", web.Handler())

	if err := n.setUpMetrics(mux, reg); err != nil {
		n.closeCore()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		n.closeCore()
		if n.metricsLn != nil {
			_ = n.metricsLn.Close()
		}
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	n.ln = ln
	n.http = cfg.HTTP.server(mux)
	return n, nil
}

// listenPorts is the port of the HTTP listen address, if it names one.
func listenPorts(listen string) []int {
	_, port, err := net.SplitHostPort(listen)
	if n, perr := strconv.Atoi(port); err == nil && perr == nil && n > 0 {
		return []int{n}
	}
	return nil
}

// URL is where a browser opens the web client.
func (n *Node) URL() string {
	addr := n.ln.Addr().(*net.TCPAddr)
	// localhost for the usual loopback address or all addresses; other
	// loopback addresses (a second node on 127.0.0.2) by number.
	host := "localhost"
	if !addr.IP.IsUnspecified() && !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		host = addr.IP.String()
	}
	scheme := "http"
	if n.cfg.TLSCert != "" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s/", scheme, net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

// Addr is the address the HTTP listener is bound to (Config.Listen with
// the port the system chose, if it named port 0).
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// MediaAddr is the UDP address all media is multiplexed on.
func (n *Node) MediaAddr() net.Addr { return n.sfu.MediaAddr() }

// SFU is the node's media core.
func (n *Node) SFU() *sfu.SFU { return n.sfu }

// Signaling is the node's WebSocket endpoint, served at /ws.
func (n *Node) Signaling() *signaling.Server { return n.signaling }

// Keys returns a copy of the API keys the node accepts tokens from: the
// configured ones and, in development mode, the generated "dev" key.
func (n *Node) Keys() signaling.Keys { return maps.Clone(n.keys) }

// Dev reports whether the node runs in development mode (/api/token
// served, operator endpoints open).
func (n *Node) Dev() bool { return n.dev }

// Serve serves HTTP (and metrics_listen, if set) until Shutdown, when it
// returns nil, or until a server fails, when it stops the other and
// returns the error. Call it once.
func (n *Node) Serve() error {
	servers := []func() error{func() error {
		if n.cfg.TLSCert != "" {
			return n.http.ServeTLS(n.ln, n.cfg.TLSCert, n.cfg.TLSKey)
		}
		return n.http.Serve(n.ln)
	}}
	if n.metricsHTTP != nil {
		servers = append(servers, func() error { return n.metricsHTTP.Serve(n.metricsLn) })
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s() }()
	}
	var first error
	for range servers {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
			_ = n.http.Close() // end the other one too
			if n.metricsHTTP != nil {
				_ = n.metricsHTTP.Close()
			}
		}
	}
	return first
}

// Shutdown stops accepting, tells every client the server is going away,
// closes all peer connections and waits for it, within ctx. It closes the
// cluster backend too, ending what it relays. It frees everything New opened,
// whether Serve was called or not.
func (n *Node) Shutdown(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		err := n.http.Shutdown(ctx) // does not wait for hijacked WebSockets
		_ = n.ln.Close()            // Serve closes it; without Serve, no one else
		if n.metricsHTTP != nil {
			err = errors.Join(err, n.metricsHTTP.Shutdown(ctx))
			_ = n.metricsLn.Close()
		}
		err = errors.Join(err, n.sfu.Close())
		if n.turn != nil {
			err = errors.Join(err, n.turn.Close())
		}
		n.signaling.Close()
		n.backend.Close()
		if n.redis != nil { // the node opened the store, and closes its chat
			if c, ok := n.chat.(io.Closer); ok {
				err = errors.Join(err, c.Close())
			}
			err = errors.Join(err, n.redis.Close())
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeCore frees what New made before it failed.
func (n *Node) closeCore() {
	_ = n.sfu.Close()
	if n.turn != nil {
		_ = n.turn.Close()
	}
	n.signaling.Close()
	n.backend.Close()
	if n.redis != nil {
		if c, ok := n.chat.(io.Closer); ok {
			_ = c.Close()
		}
		_ = n.redis.Close()
	}
}
