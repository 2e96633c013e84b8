package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
	"github.com/sfu-project/sfu/web"
)

// node is one running server: HTTP (web client, signaling, health,
// metrics) and the media core.
type node struct {
	cfg       Config
	log       *slog.Logger
	dev       bool
	keys      signaling.Keys
	sfu       *sfu.SFU
	signaling *signaling.Server
	http      *http.Server
	ln        net.Listener

	revocations signaling.Revocations
	metricsHTTP *http.Server // nil unless metrics_listen is set
	metricsLn   net.Listener
}

func newNode(cfg Config, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: log}
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	media, err := sfu.New(cfg.SFU, sfu.Options{Logger: log, Metrics: sfu.NewMetrics(reg), OwnPorts: listenPorts(cfg.Listen)})
	if err != nil {
		return nil, err
	}
	n.sfu = media
	n.revocations = signaling.NewMemoryRevocations(cfg.Signaling.MaxRevocations, time.Now)
	n.signaling = signaling.NewServer(cfg.Signaling, n.keys, signaling.LocalBackend{SFU: media}, log,
		signaling.WithRevocations(n.revocations))
	reg.MustRegister(n.signaling.Metrics())

	mux := http.NewServeMux()
	mux.Handle("/ws", n.signaling)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = fmt.Fprintln(w, "ok")
	})
	if n.dev {
		mux.Handle("/api/token", signaling.DevTokenHandler(n.keys, "dev", min(tokenTTLDefault, cfg.Signaling.MaxTokenLifetime)))
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
		_ = media.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = media.Close()
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

// roomDebugHandler serves GET /debug/rooms/NAME: a JSON snapshot of a
// room with each subscriber's estimate and layers.
func (n *node) roomDebugHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		name := strings.TrimPrefix(r.URL.Path, "/debug/rooms/")
		state, ok := n.sfu.RoomState(name)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "no such room"})
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(state)
	})
}

// URL is where a browser opens the web client.
func (n *node) URL() string {
	addr := n.ln.Addr().(*net.TCPAddr)
	host := "localhost"
	if !addr.IP.IsUnspecified() && !addr.IP.IsLoopback() {
		host = addr.IP.String()
	}
	scheme := "http"
	if n.cfg.TLSCert != "" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s/", scheme, net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

// serve runs until the HTTP servers are shut down, or one fails.
func (n *node) serve() error {
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

// shutdown stops accepting, tells every client the server is going away,
// closes all peer connections and waits for it, within ctx.
func (n *node) shutdown(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		err := n.http.Shutdown(ctx) // does not wait for hijacked WebSockets
		if n.metricsHTTP != nil {
			err = errors.Join(err, n.metricsHTTP.Shutdown(ctx))
		}
		err = errors.Join(err, n.sfu.Close())
		n.signaling.Close()
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
