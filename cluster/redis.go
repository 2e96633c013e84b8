package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Registry, Directory and Bus kept in Redis, for a deployment
// of several nodes. Through go-redis's UniversalClient it works on a
// standalone server, behind Sentinel and on Redis Cluster: every script
// and multi-key command touches keys of one hash slot. Expiry is Redis's
// own (PX, PEXPIREAT and scores taken from the server's TIME), so the
// nodes' clocks do not need to agree. It needs Redis 7.0 or later.
//
// The keys, with the default prefix "sfu":
//
//	sfu:{nodes}:node:ID         a node's NodeInfo (JSON), PX its TTL
//	sfu:{nodes}:index           set of node IDs, pruned when their key is gone
//	sfu:room:{ROOM}:host        the room's host node, PX the claim's TTL
//	sfu:room:{ROOM}:servers     zset node -> expiry (ms, server time)
//	sfu:room:{ROOM}:members     hash member ID -> Member (JSON)
//	sfu:bus:{NODE}              stream of messages to NODE
//
// ROOM and NODE are escaped so that no name can end the hash tag early.
// The servers and members keys expire with their last serving node, so a
// room whose nodes all died leaves nothing behind.
type Redis struct {
	client redis.UniversalClient
	opts   options
}

var (
	_ Registry  = (*Redis)(nil)
	_ Directory = (*Redis)(nil)
	_ Bus       = (*Redis)(nil)
)

// options are what Option sets, with their defaults in defaultOptions.
type options struct {
	prefix     string
	streamMax  int64
	streamTTL  time.Duration
	block      time.Duration
	backoffMin time.Duration
	backoffMax time.Duration
}

func defaultOptions() options {
	return options{
		prefix:     "sfu",
		streamMax:  10000,
		streamTTL:  5 * time.Minute,
		block:      2 * time.Second,
		backoffMin: 50 * time.Millisecond,
		backoffMax: time.Second,
	}
}

// Option changes a default of NewRedis or NewRedisRevocations.
type Option func(*options)

// WithPrefix starts every key with prefix and a colon ("sfu" by default),
// so that deployments can share a Redis. It may not contain '{' or '}'.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithStreamMaxLen bounds each node's message stream to about n entries
// (XADD MAXLEN ~ n; 10,000 by default). A receiver that falls further
// behind loses the oldest.
func WithStreamMaxLen(n int64) Option { return func(o *options) { o.streamMax = n } }

// WithStreamTTL makes a node's stream expire d after the last message sent
// to it (5 minutes by default), so that the streams of nodes gone for good
// do not stay.
func WithStreamTTL(d time.Duration) Option { return func(o *options) { o.streamTTL = d } }

// WithBlock is how long Receive waits in one XREAD (2 s by default): it
// is also how long Receive may take to return after its context ends.
func WithBlock(d time.Duration) Option { return func(o *options) { o.block = d } }

// WithBackoff sets the first and the longest wait of Receive between
// attempts while Redis cannot be reached (50 ms and 1 s by default).
func WithBackoff(first, longest time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = first, longest }
}

// buildOptions applies opts to the defaults and checks the result.
func buildOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.prefix == "" || strings.ContainsAny(o.prefix, "{}"):
		return o, fmt.Errorf("%w: key prefix %q (empty, or with '{' or '}')", ErrInvalid, o.prefix)
	case o.streamMax < 1:
		return o, fmt.Errorf("%w: stream length %d", ErrInvalid, o.streamMax)
	case o.streamTTL < time.Millisecond || o.block < time.Millisecond:
		return o, fmt.Errorf("%w: stream TTL %s or block %s under 1ms", ErrInvalid, o.streamTTL, o.block)
	case o.backoffMin <= 0 || o.backoffMax < o.backoffMin:
		return o, fmt.Errorf("%w: backoff %s..%s", ErrInvalid, o.backoffMin, o.backoffMax)
	}
	return o, nil
}

// NewRedis returns the shared state kept in Redis through client, which
// stays the caller's to close.
func NewRedis(client redis.UniversalClient, opts ...Option) (*Redis, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Redis{client: client, opts: o}, nil
}

// tagEscaper makes a name safe inside a hash tag: Redis Cluster hashes
// what lies between the first '{' and the next '}', so neither may appear
// in it. '%' is escaped too, so that two names never share a key.
var tagEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

func (r *Redis) roomKey(room, part string) string {
	return r.opts.prefix + ":room:{" + tagEscaper.Replace(room) + "}:" + part
}

// roomKeys are the keys of room, in the order the scripts take them.
func (r *Redis) roomKeys(room string) []string {
	return []string{r.roomKey(room, "host"), r.roomKey(room, "servers"), r.roomKey(room, "members")}
}

func (r *Redis) nodeKey(id string) string { return r.opts.prefix + ":{nodes}:node:" + id }

func (r *Redis) nodeIndex() string { return r.opts.prefix + ":{nodes}:index" }

func (r *Redis) streamKey(node string) string {
	return r.opts.prefix + ":bus:{" + tagEscaper.Replace(node) + "}"
}

// wrapErr gives an error from go-redis the package's prefix, and makes it
// match ErrUnavailable when Redis could not be reached or answer in time.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("cluster: %s: %w", op, err)
}

// unavailable reports whether err says Redis is out of reach rather than
// that it refused the command: every error that is not a reply from Redis
// (dial, read and write errors, timeouts, a closed or exhausted pool) and
// the replies a server gives while it cannot serve for a while. A context
// the caller cancelled is not the store's fault.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	for _, p := range []string{"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// isNil reports whether err is go-redis's "no value" reply.
func isNil(err error) bool { return errors.Is(err, redis.Nil) }
