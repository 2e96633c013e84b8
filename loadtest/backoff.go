package loadtest

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff paces a participant's connection attempts after it lost its
// connection or an attempt failed, as the web client does: the n-th wait
// is about First doubled n-1 times, at most Max. Each wait is drawn
// between half and all of that, so that the participants one node
// dropped at once do not all come back at once.
type Backoff struct {
	First, Max time.Duration
}

// DefaultBackoff is the backoff of a run that sets none: 0.5 s doubling
// to 10 s.
var DefaultBackoff = Backoff{First: 500 * time.Millisecond, Max: 10 * time.Second}

// Wait is the n-th wait (n from 1), jitter included.
func (b Backoff) Wait(n int) time.Duration {
	d := b.First
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// DefaultIdleTimeout is a run's IdleTimeout if it sets none: three of the
// server's ping intervals (5 s by default), as long as the server waits
// for a silent client.
const DefaultIdleTimeout = 15 * time.Second

// sleep waits d, or less if ctx ends first; it reports whether ctx is
// still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
