package rtp

import (
	"math"
	"sync/atomic"
	"time"
)

// KeyframeThrottle limits how often the SFU asks a publisher for a
// keyframe (PLI or FIR). Every subscriber that joins or loses packets wants
// one, but the publisher only needs to hear it once per interval; more
// requests waste its bandwidth on keyframes without helping anyone.
//
// A KeyframeThrottle is safe for concurrent use. Its zero value allows
// every request.
type KeyframeThrottle struct {
	interval int64        // nanoseconds
	last     atomic.Int64 // unix nanos of the last allowed request, or never
}

// never marks a throttle that has not allowed a request yet.
const never = math.MinInt64

// NewKeyframeThrottle returns a throttle that allows one request per
// interval.
func NewKeyframeThrottle(interval time.Duration) *KeyframeThrottle {
	t := &KeyframeThrottle{interval: int64(interval)}
	t.last.Store(never)
	return t
}

// Allow reports whether a request made at now may go out, and if so
// records it. It returns true at most once per interval. A time before the
// last allowed request, as when racing callers read the clock in a
// different order, is refused.
func (t *KeyframeThrottle) Allow(now time.Time) bool {
	n := now.UnixNano()
	for {
		last := t.last.Load()
		if last != never && n-last < t.interval {
			return false
		}
		if t.last.CompareAndSwap(last, n) {
			return true
		}
	}
}
