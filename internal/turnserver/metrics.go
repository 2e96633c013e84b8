package turnserver

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the server's Prometheus instruments, read from its own
// counters when scraped (nothing is updated per datagram but an atomic
// counter). Register it where the node's metrics are served.
type Metrics struct {
	s           *Server
	allocations *prometheus.Desc
	connections *prometheus.Desc
	refusals    *prometheus.Desc
}

func newMetrics(s *Server) *Metrics {
	return &Metrics{
		s: s,
		allocations: prometheus.NewDesc("sfu_turn_allocations",
			"TURN allocations (relay ports) held by the embedded server.", nil, nil),
		connections: prometheus.NewDesc("sfu_turn_connections",
			"TCP and TLS connections the embedded TURN server holds.", nil, nil),
		refusals: prometheus.NewDesc("sfu_turn_refusals_total",
			"Requests, datagrams and connections the embedded TURN server refused, by reason.", []string{"reason"}, nil),
	}
}

// Metrics returns the server's instruments.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.allocations
	ch <- m.connections
	ch <- m.refusals
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(m.allocations, prometheus.GaugeValue, float64(m.s.activity.Relays()))
	ch <- prometheus.MustNewConstMetric(m.connections, prometheus.GaugeValue, float64(m.s.activity.Conns()))
	for r := reason(1); r < reasonCount; r++ {
		ch <- prometheus.MustNewConstMetric(m.refusals, prometheus.CounterValue, float64(m.s.refusals.counts[r].Load()), r.String())
	}
}
