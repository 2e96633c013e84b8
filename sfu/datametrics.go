package sfu

import "github.com/prometheus/client_golang/prometheus"

// DataMetrics count the application data clients send each other on
// data channels (data.go).
type DataMetrics struct {
	// Received counts the messages clients sent, accepted or not.
	Received prometheus.Counter
	// Forwarded and ForwardedBytes count the messages (and their bytes,
	// envelope included) written to receivers, one per receiver, and
	// relayed to other nodes, one per node.
	Forwarded      prometheus.Counter
	ForwardedBytes prometheus.Counter
	// Dropped counts the messages dropped, by reason: for a sender's
	// message, the error code it was refused with (not_allowed,
	// data_too_large, bad_topic, bad_data, rate_limited); for one
	// receiver, reliable_buffer (its reliable queue was full),
	// lossy_buffer (its lossy queue was over the threshold),
	// lossy_congested (its link has no room beside its media) or
	// closed (its channel closed meanwhile).
	Dropped *prometheus.CounterVec

	drops map[string]prometheus.Counter // Dropped's counters, looked up once
}

// The reasons of DataMetrics.Dropped for one receiver.
const (
	dropReliableBuffer = "reliable_buffer"
	dropLossyBuffer    = "lossy_buffer"
	dropLossyCongested = "lossy_congested"
	dropClosed         = "closed"
)

func newDataMetrics() DataMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sfu", Name: name, Help: help})
	}
	m := DataMetrics{
		Received:       c("data_messages_received_total", "Application data messages clients sent on data channels."),
		Forwarded:      c("data_messages_forwarded_total", "Application data messages written to receivers (one per receiver) or relayed to other nodes."),
		ForwardedBytes: c("data_bytes_forwarded_total", "Bytes of application data messages forwarded, envelope included."),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sfu", Name: "data_messages_dropped_total",
			Help: "Application data messages dropped, by reason (an error code for a sender's message; reliable_buffer, lossy_buffer, lossy_congested or closed for one receiver)."},
			[]string{"reason"}),
		drops: make(map[string]prometheus.Counter),
	}
	for _, r := range []string{DataNotAllowed, DataTooLarge, DataBadTopic, DataBad, DataRateLimited,
		dropReliableBuffer, dropLossyBuffer, dropLossyCongested, dropClosed} {
		m.drops[r] = m.Dropped.WithLabelValues(r)
	}
	return m
}

func (m DataMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Received, m.Forwarded, m.ForwardedBytes, m.Dropped}
}

// drop counts a message dropped for reason.
func (m *DataMetrics) drop(reason string) {
	if c, ok := m.drops[reason]; ok {
		c.Inc()
		return
	}
	m.Dropped.WithLabelValues(reason).Inc()
}
