package node

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// registry is the node's metrics registry; it keeps what is registered
// on it, so that the metrics can be listed (tests check README.md names
// each one).
type registry struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func newRegistry() *registry { return &registry{Registry: prometheus.NewRegistry()} }

// Register registers c and keeps it.
func (r *registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

// MustRegister registers cs and keeps them; it panics on a collision, a
// programming error.
func (r *registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// setUpMetrics serves reg's /metrics on mux, or, with metrics_listen, on
// a listener of its own (plain HTTP) and not on mux.
func (n *Node) setUpMetrics(mux *http.ServeMux, reg *registry) error {
	h := n.metricsGuard(promhttp.HandlerFor(reg.Registry, promhttp.HandlerOpts{}))
	if n.cfg.MetricsListen == "" {
		mux.Handle("/metrics", h)
		if !n.dev && n.cfg.MetricsToken == "" {
			n.log.Info("/metrics needs an admin token; set metrics_token or metrics_listen for a scraper")
		}
		return nil
	}
	ln, err := net.Listen("tcp", n.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", n.cfg.MetricsListen, err)
	}
	m := http.NewServeMux()
	m.Handle("/metrics", h)
	n.metricsLn = ln
	n.metricsHTTP = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// metricsGuard decides who may read /metrics:
//   - with metrics_token, a request bearing it (or an admin access token);
//   - otherwise with metrics_listen, anyone who reaches that address,
//     which the operator chose to be private;
//   - otherwise in development mode, anyone, like /debug/;
//   - otherwise (production on the public listener) an admin access
//     token, like /debug/. The figures tell who is using the service and
//     how much, and a scrape costs CPU, so they are not left open to the
//     internet by default; admin tokens expire within
//     max_token_lifetime, so a scraper is given metrics_token or
//     metrics_listen instead, and the node says so at start.
func (n *Node) metricsGuard(h http.Handler) http.Handler {
	switch {
	case n.cfg.MetricsToken != "":
		want := []byte(n.cfg.MetricsToken)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, _ := bearer(r)
			if subtle.ConstantTimeCompare([]byte(tok), want) == 1 || n.isAdmin(r) {
				h.ServeHTTP(w, r)
				return
			}
			unauthorized(w, "a metrics or admin token is required")
		})
	case n.cfg.MetricsListen != "", n.dev:
		return h
	default:
		return n.adminOnly(h)
	}
}
