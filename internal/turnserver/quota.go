package turnserver

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// quotas holds what each identity uses on this server: its allocations,
// counted against MaxAllocationsPerUser, and the bandwidth they share,
// bounded by MaxUserBitrate. An identity's entry lives while it holds an
// allocation.
type quotas struct {
	maxAllocs int   // 0: no cap
	bytesPerS int64 // 0: no cap

	mu    sync.Mutex // guards users and every usage's allocs
	users map[string]*usage
}

// usage is one identity's.
type usage struct {
	identity string
	allocs   int           // guarded by quotas.mu
	limiter  *rate.Limiter // nil: no bandwidth cap; safe for concurrent use
}

func newQuotas(cfg Config) *quotas {
	return &quotas{maxAllocs: cfg.MaxAllocationsPerUser, bytesPerS: cfg.MaxUserBitrate / 8, users: make(map[string]*usage)}
}

// full reports whether identity holds all the allocations it may.
func (q *quotas) full(identity string) bool {
	if q.maxAllocs == 0 {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.users[identity]
	return u != nil && u.allocs >= q.maxAllocs
}

// acquire counts one more allocation of identity, or returns ErrQuota.
// The caller releases it when the allocation ends.
func (q *quotas) acquire(identity string) (*usage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.users[identity]
	if u == nil {
		u = &usage{identity: identity}
		if q.bytesPerS > 0 {
			u.limiter = rate.NewLimiter(rate.Limit(q.bytesPerS), int(q.bytesPerS))
		}
		q.users[identity] = u
	}
	if q.maxAllocs > 0 && u.allocs >= q.maxAllocs {
		return nil, ErrQuota
	}
	u.allocs++
	return u, nil
}

// release ends one allocation of u's identity; nil does nothing.
func (q *quotas) release(u *usage) {
	if u == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	u.allocs--
	if u.allocs <= 0 {
		delete(q.users, u.identity)
	}
}

// allow reports whether n more bytes fit the identity's bandwidth at now.
// A nil usage (an allocation counted for no identity) always fits.
func (u *usage) allow(n int, now time.Time) bool {
	return u == nil || u.limiter == nil || u.limiter.AllowN(now, n)
}
