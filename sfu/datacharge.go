package sfu

import (
	"sync"
	"sync/atomic"
	"time"
)

// Application data sent to a subscriber shares its link with its media.
// Bandwidth control charges the rate of the data written to it against
// its video budget, never its audio, and at most half of it, so that a
// file transfer lowers the video a step rather than pausing it; and it
// marks the link congested when the estimate leaves no room for more
// than the media chosen, which drops the lossy data first (data.go).

// chargeData returns the bits/s of application data written to the
// subscriber since the last allocation, at most half of budget (the
// estimate less the audio).
func (b *bandwidthControl) chargeData(now time.Time, budget int64) int64 {
	if b.data == nil {
		return 0
	}
	sent := b.data.sent.Load()
	bytes, dt := sent-b.dataSent, now.Sub(b.dataAt)
	b.dataSent = sent
	first := b.dataAt.IsZero()
	b.dataAt = now
	if first || dt <= 0 || bytes <= 0 {
		return 0
	}
	rate := int64(float64(bytes*8) / dt.Seconds())
	return max(min(rate, budget/2), 0)
}

// markCongested records whether the subscriber's link has room for lossy
// data beside sending, the bits/s of the media chosen for it, and paces
// lossy data to that room: the estimate less the media, less a margin.
// Without an estimate lossy data is not paced.
func (b *bandwidthControl) markCongested(known bool, estimate, sending int64) {
	if b.data == nil {
		return
	}
	room := int64(float64(estimate-sending) * lossyShare / 8)
	b.data.congested.Store(known && room <= 0)
	if !known {
		room = 0
	}
	b.data.lossy.setRate(max(room, 0))
}

// lossyShare is the part of the room beside the media that lossy data
// may take: the estimate lags a link that fills.
const lossyShare = 0.8

// lossyPacer is a token bucket for the lossy data sent to one
// subscriber, at the rate bandwidth control gives it.
type lossyPacer struct {
	rate   atomic.Int64 // bytes/s; 0: not paced (no estimate yet)
	mu     sync.Mutex   // guards the fields below; a leaf
	tokens float64
	last   time.Time
}

// lossyBurst is the most lossy data sent to one subscriber at once,
// in bytes: little enough not to fill a link's queue ahead of its audio.
const lossyBurst = 16 << 10

func (l *lossyPacer) setRate(bytesPerSecond int64) { l.rate.Store(bytesPerSecond) }

// allow reports whether n bytes of lossy data may go now.
func (l *lossyPacer) allow(now time.Time, n int) bool {
	rate := l.rate.Load()
	if rate == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if dt := now.Sub(l.last).Seconds(); dt > 0 {
		l.tokens = min(l.tokens+dt*float64(rate), lossyBurst)
		l.last = now
	}
	if l.tokens < float64(n) {
		return false
	}
	l.tokens -= float64(n)
	return true
}
