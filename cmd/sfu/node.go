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
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	media, err := sfu.New(cfg.SFU, sfu.Options{Logger: log, Metrics: sfu.NewMetrics(reg)})
	if err != nil {
		return nil, err
	}
	n.sfu = media
	n.signaling = signaling.NewServer(cfg.Signaling, n.keys, signaling.LocalBackend{SFU: media}, log)
	reg.MustRegister(n.signaling.Metrics())

	mux := http.NewServeMux()
	mux.Handle("/ws", n.signaling)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if n.dev {
		mux.Handle("/api/token", signaling.DevTokenHandler(n.keys, "dev", tokenTTLDefault))
	}
	mux.Handle("/debug/rooms/", n.adminOnly(n.roomDebugHandler()))
	// Go's profiler, for operators chasing CPU or memory: `go tool pprof
	// -H "Authorization: Bearer TOKEN" http://HOST/debug/pprof/profile`.
	mux.Handle("/debug/pprof/", n.adminOnly(http.HandlerFunc(pprof.Index)))
	mux.Handle("/debug/pprof/profile", n.adminOnly(http.HandlerFunc(pprof.Profile)))
	mux.Handle("/debug/pprof/trace", n.adminOnly(http.HandlerFunc(pprof.Trace)))
	mux.Handle("/debug/pprof/symbol", n.adminOnly(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("/", web.Handler())

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = media.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	n.ln = ln
	n.http = cfg.HTTP.server(mux)
	return n, nil
}

// adminOnly serves h to requests with a token that has the admin grant
// (Authorization: Bearer TOKEN), and to any request in development mode.
func (n *node) adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.dev {
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			claims, err := n.keys.Verify(tok, time.Now())
			if err != nil || !claims.Grants.Admin {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "an admin token is required"})
				return
			}
		}
		h.ServeHTTP(w, r)
	})
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

// serve runs until the HTTP server is shut down.
func (n *node) serve() error {
	var err error
	if n.cfg.TLSCert != "" {
		err = n.http.ServeTLS(n.ln, n.cfg.TLSCert, n.cfg.TLSKey)
	} else {
		err = n.http.Serve(n.ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shutdown stops accepting, tells every client the server is going away,
// closes all peer connections and waits for it, within ctx.
func (n *node) shutdown(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		err := n.http.Shutdown(ctx) // does not wait for hijacked WebSockets
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
