package sfu

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the SFU's Prometheus instruments. Each SFU has its own set so
// that several nodes can live in one process.
type Metrics struct {
	Rooms               prometheus.Gauge
	Participants        prometheus.Gauge
	Tracks              prometheus.Gauge
	PacketsReceived     prometheus.Counter
	PacketsForwarded    prometheus.Counter
	DuplicatesDropped   prometheus.Counter
	NacksReceived       prometheus.Counter
	PacketsRetransmit   prometheus.Counter
	RetransmitMisses    prometheus.Counter
	KeyframeRequests    prometheus.Counter
	SubscriberOffersOut prometheus.Counter
	LayerSwitches       prometheus.Counter
	EstimateBits        prometheus.Gauge
	PausedTracks        prometheus.Gauge
	ProbesSucceeded     prometheus.Counter
	ProbesFailed        prometheus.Counter
	PaddingBytes        prometheus.Counter
	// P2PRooms counts the rooms whose call runs peer to peer now.
	P2PRooms prometheus.Gauge
	// PeerSteps counts what rooms told their pairs, by step (start, p2p,
	// sfu, end) and reason (PROTOCOL.md, "Peer to peer for two").
	PeerSteps *prometheus.CounterVec
	// ICERestarts counts the ICE restarts of the connections to clients,
	// by connection (publisher: offered by the client; subscriber: by the
	// server).
	ICERestarts *prometheus.CounterVec
	// Data counts application data on data channels.
	Data DataMetrics
}

// NewMetrics creates the instruments and registers them with reg, if reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sfu", Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sfu", Name: name, Help: help})
	}
	m := &Metrics{
		Rooms:               g("rooms", "Rooms with at least one participant."),
		Participants:        g("participants", "Participants connected."),
		Tracks:              g("published_tracks", "Tracks being published."),
		PacketsReceived:     c("rtp_packets_received_total", "RTP packets received from publishers."),
		PacketsForwarded:    c("rtp_packets_forwarded_total", "RTP packets written to subscribers."),
		DuplicatesDropped:   c("rtp_duplicates_dropped_total", "Retransmitted or repeated packets dropped because they were already forwarded."),
		NacksReceived:       c("nack_requests_total", "Sequence numbers subscribers asked to be retransmitted."),
		PacketsRetransmit:   c("rtp_retransmissions_total", "Packets retransmitted to subscribers from the packet cache."),
		RetransmitMisses:    c("rtp_retransmission_misses_total", "NACKed packets no longer (or never) in the packet cache."),
		KeyframeRequests:    c("keyframe_requests_total", "PLIs sent to publishers."),
		SubscriberOffersOut: c("subscriber_offers_total", "Offers sent on subscriber connections."),
		LayerSwitches:       c("layer_switches_total", "Simulcast layer switches made for subscribers, at keyframes."),
		EstimateBits:        g("subscriber_estimate_bits", "Sum of the bandwidth estimates of all subscriber connections, bits/s."),
		PausedTracks:        g("paused_video_tracks", "Video subscriptions paused because the subscriber's bandwidth cannot carry even their lowest layer."),
		ProbesSucceeded:     c("bandwidth_probes_succeeded_total", "Padding probes of subscriber links that showed room for better layers."),
		ProbesFailed:        c("bandwidth_probes_failed_total", "Padding probes of subscriber links that met a queue, loss or too little throughput."),
		PaddingBytes:        c("padding_bytes_total", "RTP bytes of padding sent to probe subscriber links."),
		P2PRooms:            g("p2p_rooms", "Rooms of two whose media goes peer to peer, not through the SFU."),
		PeerSteps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sfu", Name: "p2p_steps_total",
			Help: "Peer-to-peer steps rooms took, by step (start, p2p, sfu, end) and reason."}, []string{"step", "reason"}),
		ICERestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sfu", Name: "ice_restarts_total",
			Help: "ICE restarts of client connections, by connection (publisher, subscriber)."}, []string{"connection"}),
		Data: newDataMetrics(),
	}
	if reg != nil {
		reg.MustRegister(m.Rooms, m.Participants, m.Tracks, m.PacketsReceived, m.PacketsForwarded,
			m.DuplicatesDropped, m.NacksReceived, m.PacketsRetransmit, m.RetransmitMisses,
			m.KeyframeRequests, m.SubscriberOffersOut, m.LayerSwitches, m.EstimateBits, m.PausedTracks,
			m.ProbesSucceeded, m.ProbesFailed, m.PaddingBytes, m.P2PRooms, m.PeerSteps, m.ICERestarts)
		reg.MustRegister(m.Data.collectors()...)
	}
	return m
}
