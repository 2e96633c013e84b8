package signaling_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sfu-project/sfu/signaling"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func tokenClaims(jti, room, identity string) *signaling.Claims {
	return &signaling.Claims{Room: room, RegisteredClaims: jwt.RegisteredClaims{ID: jti, Subject: identity}}
}

func TestMemoryRevocations(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: tokenNow}
	r := signaling.NewMemoryRevocations(100, clock.now)
	var _ signaling.Revocations = r
	revoked := func(c *signaling.Claims) bool {
		t.Helper()
		ok, err := r.Revoked(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	if err := r.RevokeToken(ctx, "jti-1", tokenNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeIdentity(ctx, "lobby", "bob", tokenNow.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeIdentity(ctx, "", "eve", tokenNow.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		claims *signaling.Claims
		want   bool
	}{
		{tokenClaims("jti-1", "lobby", "alice"), true},
		{tokenClaims("jti-2", "lobby", "alice"), false}, // alice's other token
		{tokenClaims("", "lobby", "alice"), false},      // a token without jti
		{tokenClaims("jti-3", "lobby", "bob"), true},    // bob in lobby, any token
		{tokenClaims("", "lobby", "bob"), true},
		{tokenClaims("jti-4", "kitchen", "bob"), false}, // bob elsewhere
		{tokenClaims("jti-5", "kitchen", "eve"), true},  // eve everywhere
		{tokenClaims("jti-6", "lobby", "eve"), true},
	} {
		if got := revoked(tc.claims); got != tc.want {
			t.Errorf("%+v: revoked = %v, want %v", tc.claims, got, tc.want)
		}
	}

	// Each revocation lapses at its own time.
	clock.advance(10*time.Minute - time.Nanosecond)
	if !revoked(tokenClaims("", "lobby", "bob")) {
		t.Error("bob accepted before his revocation ended")
	}
	clock.advance(time.Nanosecond)
	if revoked(tokenClaims("", "lobby", "bob")) {
		t.Error("bob still refused when his revocation ended")
	}
	if !revoked(tokenClaims("", "lobby", "eve")) || !revoked(tokenClaims("jti-1", "x", "y")) {
		t.Error("the longer revocations ended with bob's")
	}
	clock.advance(time.Hour)
	if revoked(tokenClaims("jti-1", "lobby", "eve")) {
		t.Error("revocations still hold after their until")
	}
	if n := r.Len(); n != 0 {
		t.Errorf("%d lapsed revocations kept after they were looked up", n)
	}

	// A second revocation of the same jti keeps the later end.
	now := clock.now()
	_ = r.RevokeToken(ctx, "again", now.Add(time.Hour))
	_ = r.RevokeToken(ctx, "again", now.Add(time.Minute))
	clock.advance(30 * time.Minute)
	if !revoked(tokenClaims("again", "r", "a")) {
		t.Error("a shorter second revocation cut the first one short")
	}

	for name, err := range map[string]error{
		"no jti":            r.RevokeToken(ctx, "", clock.now().Add(time.Hour)),
		"no identity":       r.RevokeIdentity(ctx, "lobby", "", clock.now().Add(time.Hour)),
		"until now":         r.RevokeToken(ctx, "j", clock.now()),
		"until in the past": r.RevokeIdentity(ctx, "", "x", clock.now().Add(-time.Second)),
	} {
		if !errors.Is(err, signaling.ErrBadRevocation) {
			t.Errorf("%s: %v, want %v", name, err, signaling.ErrBadRevocation)
		}
	}
}

// TestMemoryRevocationsBounded: the store holds at most its maximum of
// unexpired revocations, and makes room as they lapse.
func TestMemoryRevocationsBounded(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: tokenNow}
	r := signaling.NewMemoryRevocations(3, clock.now)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.RevokeToken(ctx, "a", tokenNow.Add(time.Minute)))
	must(r.RevokeIdentity(ctx, "", "b", tokenNow.Add(time.Hour)))
	must(r.RevokeIdentity(ctx, "room", "c", tokenNow.Add(time.Hour)))
	if err := r.RevokeToken(ctx, "d", tokenNow.Add(time.Hour)); !errors.Is(err, signaling.ErrRevocationsFull) {
		t.Fatalf("a fourth revocation: %v, want %v", err, signaling.ErrRevocationsFull)
	}
	if ok, _ := r.Revoked(ctx, tokenClaims("d", "room", "z")); ok {
		t.Fatal("the refused revocation was recorded")
	}
	must(r.RevokeToken(ctx, "a", tokenNow.Add(2*time.Minute))) // extending one held is not a new one
	clock.advance(2 * time.Minute)                             // "a" lapses: room for one
	must(r.RevokeToken(ctx, "d", tokenNow.Add(time.Hour)))
	if n := r.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
	if ok, _ := r.Revoked(ctx, tokenClaims("d", "room", "z")); !ok {
		t.Error("the revocation recorded after a lapse does not hold")
	}
}
