package cluster

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/signaling"
)

// RedisRevocations is signaling.Revocations kept in Redis, so that a
// revocation made on one node is refused by all: a key per jti or per
// identity, expiring at its until time, so the store bounds itself. All
// keys share the hash tag {revoked}, so that Revoked is one EXISTS over
// all the keys a token could be refused by, on Redis Cluster too.
type RedisRevocations struct {
	client redis.UniversalClient
	now    func() time.Time
	prefix string
}

var _ signaling.Revocations = (*RedisRevocations)(nil)

// NewRedisRevocations returns the revocations kept in Redis through
// client (the caller's to close), checking until times against now
// (time.Now when nil). Of the options only WithPrefix applies.
func NewRedisRevocations(client redis.UniversalClient, now func() time.Time, opts ...Option) (*RedisRevocations, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &RedisRevocations{client: client, now: now, prefix: o.prefix}, nil
}

func (r *RedisRevocations) tokenKey(jti string) string {
	return r.prefix + ":{revoked}:jti:" + jti
}

// identityKey carries the room's length, so that no room and identity
// pair shares a key with another.
func (r *RedisRevocations) identityKey(room, identity string) string {
	return r.prefix + ":{revoked}:id:" + strconv.Itoa(len(room)) + ":" + room + ":" + identity
}

// Revoked implements signaling.Revocations.
func (r *RedisRevocations) Revoked(ctx context.Context, c *signaling.Claims) (bool, error) {
	keys := []string{r.identityKey("", c.Subject), r.identityKey(c.Room, c.Subject)}
	if c.ID != "" {
		keys = append(keys, r.tokenKey(c.ID))
	}
	n, err := r.client.Exists(ctx, keys...).Result()
	if err != nil {
		return false, wrapErr("revoked", err)
	}
	return n > 0, nil
}

// RevokeToken implements signaling.Revocations.
func (r *RedisRevocations) RevokeToken(ctx context.Context, jti string, until time.Time) error {
	if jti == "" {
		return fmt.Errorf("%w: no jti", signaling.ErrBadRevocation)
	}
	return r.revoke(ctx, r.tokenKey(jti), until)
}

// RevokeIdentity implements signaling.Revocations.
func (r *RedisRevocations) RevokeIdentity(ctx context.Context, room, identity string, until time.Time) error {
	if identity == "" {
		return fmt.Errorf("%w: no identity", signaling.ErrBadRevocation)
	}
	return r.revoke(ctx, r.identityKey(room, identity), until)
}

// revoke makes key exist until the given time, or keeps its later expiry:
// SET NX creates it, PEXPIREAT GT only ever extends it.
func (r *RedisRevocations) revoke(ctx context.Context, key string, until time.Time) error {
	if !until.After(r.now()) {
		return fmt.Errorf("%w: until %s is not in the future", signaling.ErrBadRevocation, until.Format(time.RFC3339))
	}
	at := until.UnixMilli()
	cmds, _ := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "SET", key, 1, "PXAT", at, "NX") // nil when the key exists
		p.Do(ctx, "PEXPIREAT", key, at, "GT")
		return nil
	})
	for _, c := range cmds {
		if err := c.Err(); err != nil && !isNil(err) {
			return wrapErr("revoke", err)
		}
	}
	return nil
}
