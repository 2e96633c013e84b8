package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/internal/redistest"
	"github.com/sfu-project/sfu/signaling"
)

func tokenClaims(jti, room, identity string) *signaling.Claims {
	return &signaling.Claims{Room: room, RegisteredClaims: jwt.RegisteredClaims{ID: jti, Subject: identity}}
}

func TestRedisRevocations(t *testing.T) {
	addr := redistest.Server(t)
	testRevocations(t, func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr}) })
}

func TestRedisRevocationsCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	testRevocations(t, func() redis.UniversalClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}) })
}

// testRevocations revokes on one node's store and checks on another's,
// each with its own client.
func testRevocations(t *testing.T, newClient func() redis.UniversalClient) {
	stores := make([]*RedisRevocations, 2)
	for i := range stores {
		c := newClient()
		t.Cleanup(func() { c.Close() })
		r, err := NewRedisRevocations(c, nil, WithPrefix("rev"))
		must(t, err)
		stores[i] = r
	}
	on, other := stores[0], stores[1]
	now := time.Now()
	revoked := func(c *signaling.Claims) bool {
		t.Helper()
		ok, err := other.Revoked(ctx, c)
		must(t, err)
		return ok
	}

	must(t, on.RevokeToken(ctx, "jti-1", now.Add(time.Hour)))
	must(t, on.RevokeIdentity(ctx, "lobby", "bob", now.Add(time.Hour)))
	must(t, on.RevokeIdentity(ctx, "", "eve", now.Add(time.Hour)))
	must(t, on.RevokeIdentity(ctx, "a:b", "c", now.Add(time.Hour)))
	for _, tc := range []struct {
		claims *signaling.Claims
		want   bool
	}{
		{tokenClaims("jti-1", "lobby", "ann"), true},
		{tokenClaims("jti-2", "lobby", "ann"), false},
		{tokenClaims("", "lobby", "ann"), false},
		{tokenClaims("jti-3", "lobby", "bob"), true},
		{tokenClaims("jti-4", "hall", "bob"), false},
		{tokenClaims("jti-5", "hall", "eve"), true},
		{tokenClaims("", "lobby", "eve"), true},
		{tokenClaims("jti-6", "a:b", "c"), true},
		{tokenClaims("jti-7", "a", "b:c"), false}, // not the same pair
	} {
		if got := revoked(tc.claims); got != tc.want {
			t.Errorf("Revoked(jti %q, room %q, identity %q) = %v, want %v", tc.claims.ID, tc.claims.Room, tc.claims.Subject, got, tc.want)
		}
	}

	// A revocation lapses at its until time; a later one is kept over an
	// earlier one, whichever comes first.
	must(t, on.RevokeToken(ctx, "short", now.Add(shortTTL)))
	must(t, on.RevokeToken(ctx, "extended", now.Add(shortTTL)))
	must(t, on.RevokeToken(ctx, "extended", now.Add(time.Hour)))
	must(t, on.RevokeToken(ctx, "kept", now.Add(time.Hour)))
	must(t, other.RevokeToken(ctx, "kept", now.Add(shortTTL)))
	time.Sleep(time.Until(now.Add(lapse)))
	if revoked(tokenClaims("short", "lobby", "ann")) {
		t.Error("a revocation outlived its until time")
	}
	if !revoked(tokenClaims("extended", "lobby", "ann")) || !revoked(tokenClaims("kept", "lobby", "ann")) {
		t.Error("a revocation until a later time was cut short by one until an earlier time")
	}

	for what, err := range map[string]error{
		"no jti":         on.RevokeToken(ctx, "", now.Add(time.Hour)),
		"no identity":    on.RevokeIdentity(ctx, "lobby", "", now.Add(time.Hour)),
		"until in past":  on.RevokeToken(ctx, "x", now.Add(-time.Second)),
		"identity, past": on.RevokeIdentity(ctx, "", "x", now.Add(-time.Second)),
	} {
		if !errors.Is(err, signaling.ErrBadRevocation) {
			t.Errorf("%s: err = %v, want ErrBadRevocation", what, err)
		}
	}
}

func TestRedisRevocationsUnavailable(t *testing.T) {
	s := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	r, err := NewRedisRevocations(c, nil)
	must(t, err)
	s.Stop()
	_, err = r.Revoked(ctx, tokenClaims("jti", "lobby", "ann"))
	errorsIs(t, "Revoked with Redis down", err, ErrUnavailable)
	errorsIs(t, "RevokeToken with Redis down", r.RevokeToken(ctx, "jti", time.Now().Add(time.Hour)), ErrUnavailable)
}
