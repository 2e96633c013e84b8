package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/internal/redistest"
)

// Tests of what only the Redis implementation has: its keys, its bounds,
// its errors. The behaviour both share is in the contract suite.

// hashTag is the part of key Redis Cluster hashes: between the first '{'
// and the next '}', when that is not empty; else the whole key.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

func TestRoomKeysHashTag(t *testing.T) {
	r, err := NewRedis(nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, name := range []string{"lobby", "{a}", "a}b{c", "}{", "{}", "%7B", "%", "a%7Db", "x:y}:host", "café"} {
		want := tagEscaper.Replace(name)
		if strings.ContainsAny(want, "{}") {
			t.Fatalf("escaped %q still has braces: %q", name, want)
		}
		if other, dup := seen[want]; dup {
			t.Fatalf("rooms %q and %q share the tag %q", name, other, want)
		}
		seen[want] = name
		for _, k := range r.roomKeys(name) {
			if got := hashTag(k); got != want {
				t.Errorf("key %q of room %q hashes %q, want %q", k, name, got, want)
			}
		}
		if got := hashTag(r.streamKey(name)); got != want {
			t.Errorf("stream key %q of node %q hashes %q, want %q", r.streamKey(name), name, got, want)
		}
	}
	if a, b := hashTag(r.nodeKey("{x}")), hashTag(r.nodeIndex()); a != "nodes" || b != "nodes" {
		t.Errorf("registry keys hash %q and %q, want both nodes", a, b)
	}
}

func TestNewRedisOptions(t *testing.T) {
	for _, opt := range []Option{WithPrefix(""), WithPrefix("a{b"), WithPrefix("}"), WithStreamMaxLen(0),
		WithStreamTTL(0), WithBlock(0), WithBackoff(0, time.Second), WithBackoff(time.Second, time.Millisecond)} {
		if _, err := NewRedis(nil, opt); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewRedis with a bad option: err = %v, want ErrInvalid", err)
		}
	}
}

// newRedis returns a Redis on the server at addr, with its own client and
// a prefix of its own.
func newRedis(t *testing.T, addr string, opts ...Option) (*Redis, *redis.Client) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	opts = append([]Option{WithPrefix(t.Name()), WithBlock(200 * time.Millisecond)}, opts...)
	r, err := NewRedis(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r, c
}

func TestRedisNodeIndexPruned(t *testing.T) {
	r, c := newRedis(t, redistest.Server(t))
	must(t, r.Announce(ctx, NodeInfo{ID: "gone"}, shortTTL))
	must(t, r.Announce(ctx, NodeInfo{ID: "stays"}, longTTL))
	time.Sleep(lapse)
	nodes, err := r.Nodes(ctx)
	must(t, err)
	if len(nodes) != 1 || nodes[0].ID != "stays" {
		t.Fatalf("Nodes = %+v", nodes)
	}
	ids, err := c.SMembers(ctx, r.nodeIndex()).Result()
	must(t, err)
	wantList(t, "index after Nodes", ids, "stays")
	must(t, r.Withdraw(ctx, "stays"))
	if n, err := c.Exists(ctx, r.nodeIndex(), r.nodeKey("stays")).Result(); err != nil || n != 0 {
		t.Fatalf("after Withdraw %d keys left, %v", n, err)
	}
}

func TestRedisStreamBounded(t *testing.T) {
	r, c := newRedis(t, redistest.Server(t), WithStreamMaxLen(100), WithStreamTTL(time.Hour))
	for i := range 1000 {
		must(t, r.Send(ctx, "nobody", []byte(strconv.Itoa(i))))
	}
	key := r.streamKey("nobody")
	n, err := c.XLen(ctx, key).Result()
	must(t, err)
	// MAXLEN ~ trims whole nodes of the stream's radix tree (100 entries
	// each by default), so up to one node more may stay.
	if n < 100 || n > 200 {
		t.Fatalf("stream of 1,000 messages bounded to ~100 holds %d", n)
	}
	ttl, err := c.PTTL(ctx, key).Result()
	must(t, err)
	if ttl <= 30*time.Minute || ttl > time.Hour {
		t.Fatalf("stream TTL %s, want about an hour", ttl)
	}
}

// TestRedisReceiveStartsAtEnd: a node starting to receive does not get
// what was sent before (to a previous life of it, say).
func TestRedisReceiveStartsAtEnd(t *testing.T) {
	addr := redistest.Server(t)
	a, _ := newRedis(t, addr)
	b, _ := newRedis(t, addr)
	must(t, a.Send(ctx, "b", []byte("old")))
	r := receive(t, b, "b")
	awaitReceiving(t, a, "b", r)
	must(t, a.Send(ctx, "b", []byte("new")))
	if m := r.next(t); m != "new" {
		t.Fatalf("first message %q, want new", m)
	}
}

func TestRedisErrors(t *testing.T) {
	addr := redistest.Server(t)
	r, c := newRedis(t, addr)
	// A reply error from Redis is not unavailability.
	must(t, c.Set(ctx, r.roomKey("room", "servers"), "not a zset", 0).Err())
	err := r.Serve(ctx, "room", "a", longTTL)
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.HasPrefix(err.Error(), "cluster: serve: ") {
		t.Fatalf("Serve on a key of the wrong type: %v", err)
	}
	// Nobody listening, a closed client, a deadline: unavailable.
	down := redistest.Start(t)
	down.Stop()
	dead, _ := newRedis(t, down.Addr)
	_, err = dead.Claim(ctx, "room", "a", longTTL)
	errorsIs(t, "Claim with the server down", err, ErrUnavailable)
	_, err = dead.Nodes(ctx)
	errorsIs(t, "Nodes with the server down", err, ErrUnavailable)
	closed, cc := newRedis(t, addr)
	cc.Close()
	errorsIs(t, "Send on a closed client", closed.Send(ctx, "b", nil), ErrUnavailable)
	tctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-tctx.Done()
	_, err = r.Host(tctx, "room")
	errorsIs(t, "Host past its deadline", err, ErrUnavailable)
	// A caller giving up is not the store's fault.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = r.Host(cctx, "room")
	if errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Host with a cancelled context: %v", err)
	}
}

// TestRedisStreamEnd checks where Receive (re)starts reading: after the
// stream's last entry when new; where it was after an error; from the
// start of a stream that was made anew behind its back.
func TestRedisStreamEnd(t *testing.T) {
	r, c := newRedis(t, redistest.Server(t))
	key := r.streamKey("n")
	at := func(last string) string {
		t.Helper()
		got, err := r.streamEnd(ctx, key, last)
		must(t, err)
		return got
	}
	if got := at(""); got != "0-0" {
		t.Fatalf("no stream, new receiver: %q, want 0-0", got)
	}
	if got := at("5-0"); got != "0-0" {
		t.Fatalf("no stream after an error: %q, want 0-0", got)
	}
	for _, id := range []string{"10-1", "10-2", "20-0"} {
		must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: id, Values: []any{busField, id}}).Err())
	}
	for last, want := range map[string]string{
		"":     "20-0", // a new receiver skips what is already there
		"10-1": "10-1", // resumes after what it handled
		"20-0": "20-0",
		"20-1": "0-0", // the stream is behind: made anew, all of it is new
		"30-0": "0-0",
	} {
		if got := at(last); got != want {
			t.Errorf("streamEnd after %q = %q, want %q", last, got, want)
		}
	}
}

func TestStreamIDLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1-0", "2-0", true}, {"2-0", "1-0", false}, {"1-1", "1-2", true}, {"1-2", "1-2", false},
		{"9-0", "10-0", true}, {"0-0", "0-1", true}, {"bad", "1-0", true},
	} {
		if got := streamIDLess(tc.a, tc.b); got != tc.want {
			t.Errorf("streamIDLess(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
