package signaling

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Revocations records revoked tokens and identities, each until a time,
// and says whether a verified token is revoked.
//
// MemoryRevocations serves a single node. A cluster needs every node to
// see every revocation: a Redis implementation, in cluster/, satisfies
// this same interface (a key per jti or identity, expiring at its until
// time, so the store bounds itself), and the node's assembly
// (internal/node) picks one of the two once at start-up. That is why
// every method takes a context and returns an error: Revoked is called
// once per join and per admin request, and an error refuses the join
// rather than admitting a token nobody could check.
type Revocations interface {
	// Revoked reports whether c's jti, or c's identity in c's room or in
	// every room, is revoked now.
	Revoked(ctx context.Context, c *Claims) (bool, error)
	// RevokeToken refuses the token with this jti until the given time.
	RevokeToken(ctx context.Context, jti string, until time.Time) error
	// RevokeIdentity refuses every token for identity in room, or in
	// every room when room is "", until the given time, whenever the
	// token was issued: a revoked identity cannot simply get a new token.
	RevokeIdentity(ctx context.Context, room, identity string, until time.Time) error
}

// MemoryRevocations is Revocations held in this process: it is lost on
// restart and not shared with other nodes. It holds at most max
// unexpired revocations; an entry lapses at its until time and is
// dropped when found lapsed or when room is needed. It is safe for
// concurrent use.
type MemoryRevocations struct {
	now func() time.Time
	max int

	mu         sync.Mutex
	tokens     map[string]time.Time      // jti -> until; guarded by mu
	identities map[identityKey]time.Time // guarded by mu
}

type identityKey struct{ room, identity string }

// NewMemoryRevocations returns an empty store of at most max revocations,
// keeping time with now.
func NewMemoryRevocations(max int, now func() time.Time) *MemoryRevocations {
	return &MemoryRevocations{now: now, max: max, tokens: map[string]time.Time{}, identities: map[identityKey]time.Time{}}
}

// Revoked implements Revocations.
func (m *MemoryRevocations) Revoked(_ context.Context, c *Claims) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.ID != "" && activeLocked(m.tokens, c.ID, now) {
		return true, nil
	}
	return activeLocked(m.identities, identityKey{"", c.Subject}, now) ||
		activeLocked(m.identities, identityKey{c.Room, c.Subject}, now), nil
}

// activeLocked reports whether key is revoked at now, dropping its entry
// if it has lapsed.
func activeLocked[K comparable](m map[K]time.Time, key K, now time.Time) bool {
	until, ok := m[key]
	if ok && !now.Before(until) {
		delete(m, key)
		return false
	}
	return ok
}

// RevokeToken implements Revocations.
func (m *MemoryRevocations) RevokeToken(_ context.Context, jti string, until time.Time) error {
	if jti == "" {
		return fmt.Errorf("%w: no jti", ErrBadRevocation)
	}
	return revoke(m, m.tokens, jti, until)
}

// RevokeIdentity implements Revocations.
func (m *MemoryRevocations) RevokeIdentity(_ context.Context, room, identity string, until time.Time) error {
	if identity == "" {
		return fmt.Errorf("%w: no identity", ErrBadRevocation)
	}
	return revoke(m, m.identities, identityKey{room, identity}, until)
}

// Len is the number of revocations held, lapsed ones included until they
// are dropped.
func (m *MemoryRevocations) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tokens) + len(m.identities)
}

// revoke records key in table until the given time, or keeps the later
// time if key is already there.
func revoke[K comparable](m *MemoryRevocations, table map[K]time.Time, key K, until time.Time) error {
	now := m.now()
	if !until.After(now) {
		return fmt.Errorf("%w: until %s is not in the future", ErrBadRevocation, until.Format(time.RFC3339))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := table[key]; ok {
		if until.After(old) {
			table[key] = until
		}
		return nil
	}
	if len(m.tokens)+len(m.identities) >= m.max {
		m.sweepLocked(now)
		if len(m.tokens)+len(m.identities) >= m.max {
			return fmt.Errorf("%w: %d held", ErrRevocationsFull, m.max)
		}
	}
	table[key] = until
	return nil
}

// sweepLocked drops every lapsed revocation.
func (m *MemoryRevocations) sweepLocked(now time.Time) {
	for k, until := range m.tokens {
		if !now.Before(until) {
			delete(m.tokens, k)
		}
	}
	for k, until := range m.identities {
		if !now.Before(until) {
			delete(m.identities, k)
		}
	}
}
