package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Bus on Redis Streams: one stream per receiving node. A stream keeps
// what was sent while its receiver was reconnecting, which pub/sub would
// drop, and its entry IDs let the receiver resume exactly after the last
// message it handled.

// busField is the stream entry's field that holds the message.
const busField = "m"

// Send implements Bus: one XADD per message, trimmed to about the stream
// bound, and the stream's expiry pushed back, in one round trip.
func (r *Redis) Send(ctx context.Context, to string, msgs ...[]byte) error {
	if err := checkName("node", to); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	key := r.streamKey(to)
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, msg := range msgs {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: r.opts.streamMax, Approx: true, Values: []any{busField, msg}})
		}
		p.PExpire(ctx, key, r.opts.streamTTL)
		return nil
	})
	return wrapErr("send", err)
}

// Receive implements Bus. It starts after the last message already in the
// stream, and keeps the ID of the last message handled, so that after an
// error it resumes where it was: nothing that Redis kept is lost or
// handled twice. While Redis is unreachable it retries with exponential
// backoff. It returns at most one block time (WithBlock) after ctx ends.
func (r *Redis) Receive(ctx context.Context, node string, handle func(msg []byte)) error {
	if err := checkName("node", node); err != nil {
		return err
	}
	key := r.streamKey(node)
	var last string // the last ID handled; "" until the stream's end is known
	resync := true
	backoff := r.opts.backoffMin
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if resync {
			last, err = r.streamEnd(ctx, key, last)
		}
		if err == nil {
			resync = false
			err = r.readOnce(ctx, key, &last, handle)
		}
		if err == nil {
			backoff = r.opts.backoffMin
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The server may have restarted, its stream made anew.
		resync = true
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, r.opts.backoffMax)
	}
}

// streamEnd returns where to read from: the ID of the last entry the
// stream ever had when last is "" (a new receiver starts after it); last,
// when the stream has reached it; "0-0", every entry, when the stream
// does not exist or is behind last, because it was made anew (expired, or
// lost with a restarted server) and everything in it is new to us.
func (r *Redis) streamEnd(ctx context.Context, key, last string) (string, error) {
	info, err := r.client.XInfoStream(ctx, key).Result()
	if err != nil {
		if redis.HasErrorPrefix(err, "no such key") {
			return "0-0", nil
		}
		return last, wrapErr("receive", err)
	}
	if last == "" || streamIDLess(info.LastGeneratedID, last) {
		if last == "" {
			return info.LastGeneratedID, nil
		}
		return "0-0", nil
	}
	return last, nil
}

// readOnce waits up to the block time for messages after *last and
// handles them in order, moving *last past each.
func (r *Redis) readOnce(ctx context.Context, key string, last *string, handle func([]byte)) error {
	res, err := r.client.XRead(ctx, &redis.XReadArgs{Streams: []string{key, *last}, Count: 256, Block: r.opts.block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return wrapErr("receive", err)
	}
	for _, s := range res {
		for _, m := range s.Messages {
			if ctx.Err() != nil {
				return nil
			}
			v, _ := m.Values[busField].(string)
			handle([]byte(v))
			*last = m.ID
		}
	}
	return nil
}

// streamIDLess reports whether stream entry ID a ("ms-seq") is before b.
// An ID that does not parse counts as zero.
func streamIDLess(a, b string) bool {
	am, as := splitStreamID(a)
	bm, bs := splitStreamID(b)
	return am < bm || am == bm && as < bs
}

func splitStreamID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}
