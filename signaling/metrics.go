package signaling

import "github.com/prometheus/client_golang/prometheus"

// Reasons a WebSocket upgrade is refused, as labels of
// sfu_ws_refused_total.
const (
	refusedServerFull  = "server_full"  // MaxConnections reached: 503
	refusedAddressFull = "address_full" // MaxConnectionsPerAddress reached: 429
)

// Metrics are the signaling server's Prometheus instruments. Each Server
// has its own set, so that several nodes can live in one process; register
// it (it is a prometheus.Collector) where the node's metrics are served.
type Metrics struct {
	// Connections is the number of WebSocket connections held, counting
	// those being upgraded.
	Connections prometheus.Gauge
	// Refused counts upgrades refused by a connection cap, by reason.
	Refused *prometheus.CounterVec
	// JoinTimeouts counts connections closed for not joining in time.
	JoinTimeouts prometheus.Counter
	// Joins counts successful joins.
	Joins prometheus.Counter
	// Departures counts the ends of joined sessions, by reason (see
	// PROTOCOL.md and the departure constants).
	Departures *prometheus.CounterVec
}

func newMetrics() *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sfu", Name: "ws_connections",
			Help: "WebSocket connections held, including those being upgraded."}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sfu", Name: "ws_refused_total",
			Help: "WebSocket upgrades refused by a connection cap: server_full (503) or address_full (429)."}, []string{"reason"}),
		JoinTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sfu", Name: "ws_join_timeouts_total",
			Help: "WebSocket connections closed (4408) because they did not join in time."}),
		Joins: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sfu", Name: "ws_joins_total",
			Help: "Successful joins."}),
		Departures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sfu", Name: "ws_departures_total",
			Help: "Joined sessions that ended, by reason: left, dropped, timed_out, replaced, refused, shutdown."}, []string{"reason"}),
	}
	// Both labels exist from the start, so a dashboard sees zeros.
	m.Refused.WithLabelValues(refusedServerFull)
	m.Refused.WithLabelValues(refusedAddressFull)
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Connections, m.Refused, m.JoinTimeouts, m.Joins, m.Departures}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}
