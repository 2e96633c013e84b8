package rtp

import (
	"math"
	"sync"
	"time"
)

// ReceiveStats accumulates the RFC 3550 receive statistics of one incoming
// stream: packets received, expected and lost, and interarrival jitter.
// They feed the receiver reports the SFU sends to the publisher.
//
// The zero value is ready to use. A ReceiveStats is safe for concurrent
// use: Update is called by the track's reader for every packet and
// Snapshot by the report writer.
type ReceiveStats struct {
	mu          sync.Mutex
	started     bool      // guarded by mu
	baseExt     uint64    // guarded by mu; lowest extended seq received
	maxExt      uint64    // guarded by mu; highest extended seq received
	received    uint64    // guarded by mu
	lastTS      uint32    // guarded by mu; RTP timestamp of the previous packet
	lastArrival time.Time // guarded by mu
	jitter      float64   // guarded by mu; seconds
}

// Update records a packet with extended sequence number ext (from a
// SeqUnwrapper) and RTP timestamp rtpTS that arrived at arrival. clockRate
// is the stream's RTP clock rate in Hz; with a rate of 0 the packet is
// counted but jitter is not updated.
func (s *ReceiveStats) Update(ext uint64, rtpTS uint32, arrival time.Time, clockRate uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.received++
	if !s.started {
		s.started = true
		s.baseExt, s.maxExt = ext, ext
		s.lastTS, s.lastArrival = rtpTS, arrival
		return
	}
	s.baseExt = min(s.baseExt, ext)
	s.maxExt = max(s.maxExt, ext)

	if clockRate != 0 {
		// D(i,j) = (Rj - Ri) - (Sj - Si), in seconds rather than timestamp
		// units so that the clock rate may be given per call
		// (RFC 3550, 6.4.1). The signed difference survives timestamp
		// wrap-around.
		sent := float64(int32(rtpTS-s.lastTS)) / float64(clockRate)
		d := arrival.Sub(s.lastArrival).Seconds() - sent
		s.jitter += (math.Abs(d) - s.jitter) / 16
	}
	s.lastTS, s.lastArrival = rtpTS, arrival
}

// Snapshot returns the statistics accumulated so far.
func (s *ReceiveStats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()

	if !s.started {
		return StatsSnapshot{}
	}
	expected := s.maxExt - s.baseExt + 1
	return StatsSnapshot{
		Received: s.received,
		Expected: expected,
		Lost:     int64(expected) - int64(s.received),
		Jitter:   s.jitter,
	}
}
