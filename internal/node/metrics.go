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

// setUpMetrics serves reg's /metrics on mux, or, with metrics_listen, on
// a listener of its own (plain HTTP) and not on mux.
func (n *Node) setUpMetrics(mux *http.ServeMux, reg *prometheus.Registry) error {
	h := n.metricsGuard(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
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
