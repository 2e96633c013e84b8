package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/internal/redistest"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the outage tests cause them.
	logging.Disable()
	goleak.VerifyTestMain(m)
}

// store is what each implementation offers: the three contracts.
type store interface {
	Registry
	Directory
	Bus
}

// fixture is one implementation under test, with fresh state.
type fixture struct {
	// node returns the store as node i sees it: on Redis each node has
	// its own client.
	node func(i int) store
	// wait lets d pass for the store's TTLs.
	wait func(d time.Duration)
	// roomState lists what is left of room's state: key names on Redis.
	roomState func(room string) []string
	// stop and start take the shared state away and bring it back
	// empty; nil where the fixture cannot.
	stop, start func()
}

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

func memoryFixture(t *testing.T) *fixture {
	clock := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	m := NewMemory(clock.now)
	return &fixture{
		node: func(int) store { return m },
		wait: clock.advance,
		roomState: func(room string) []string {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.roomLocked(room, clock.now(), false) != nil {
				return []string{room}
			}
			return nil
		},
	}
}

// prefixSeq gives each Redis fixture its own key prefix, so that the
// subtests sharing one server do not see each other's state.
var prefixSeq atomic.Int64

// redisFixture returns a fixture on the Redis deployment that newClient
// connects to; inst, when not nil, is the standalone server to stop and
// start.
func redisFixture(t *testing.T, newClient func() redis.UniversalClient, inst *redistest.Instance) *fixture {
	prefix := fmt.Sprintf("t%d", prefixSeq.Add(1))
	var mu sync.Mutex
	nodes := map[int]*Redis{}
	admin := newClient()
	t.Cleanup(func() {
		admin.Close()
		for _, n := range nodes {
			n.client.Close()
		}
	})
	f := &fixture{
		node: func(i int) store {
			mu.Lock()
			defer mu.Unlock()
			if n := nodes[i]; n != nil {
				return n
			}
			r, err := NewRedis(newClient(), WithPrefix(prefix), WithBlock(200*time.Millisecond), WithBackoff(10*time.Millisecond, 200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			nodes[i] = r
			return r
		},
		wait: time.Sleep,
		roomState: func(room string) []string {
			pattern := prefix + ":room:{" + tagEscaper.Replace(room) + "}:*"
			return scanKeys(t, admin, pattern)
		},
	}
	if inst != nil {
		f.stop, f.start = inst.Stop, func() { inst.Restart(t) }
	}
	return f
}

// scanKeys lists the keys matching pattern on every master.
func scanKeys(t *testing.T, c redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("scan: client %T", c)
	}
	if err != nil {
		t.Fatalf("scan %s: %v", pattern, err)
	}
	return keys
}

func TestContractMemory(t *testing.T) {
	runContract(t, memoryFixture)
}

func TestContractRedis(t *testing.T) {
	inst := redistest.Start(t)
	runContract(t, func(t *testing.T) *fixture {
		return redisFixture(t, func() redis.UniversalClient {
			return redis.NewClient(&redis.Options{Addr: inst.Addr})
		}, inst)
	})
}

func TestContractRedisCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	runContract(t, func(t *testing.T) *fixture {
		return redisFixture(t, func() redis.UniversalClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		}, nil)
	})
}
