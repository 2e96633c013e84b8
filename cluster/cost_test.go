package cluster

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/internal/redistest"
)

// TestRedisJoinCost counts, with INFO commandstats on a standalone
// server, the Redis commands of a typical join: Claim, Serve, PutMember,
// and one Bus message each way between the joining node and the host.
// Commands run inside a script are counted by Redis as well as the
// EVALSHA that ran them; both are reported.
func TestRedisJoinCost(t *testing.T) {
	addr := redistest.Server(t)
	a, ca := newRedis(t, addr)
	b, _ := newRedis(t, addr)
	ra := receive(t, a, "a")
	rb := receive(t, b, "b")
	join := func(room string) {
		t.Helper()
		claim(t, a, room, "a")
		must(t, a.Serve(ctx, room, "a", longTTL))
		must(t, a.PutMember(ctx, room, Member{ID: "p1", Node: "a", Info: []byte(`{"name":"Ann"}`)}))
		must(t, a.Send(ctx, "b", []byte("join p1")))
		if m := rb.next(t); m != "join p1" {
			t.Fatalf("b got %q", m)
		}
		must(t, b.Send(ctx, "a", []byte("joined p1")))
		if m := ra.next(t); m != "joined p1" {
			t.Fatalf("a got %q", m)
		}
	}
	// Warm up: scripts loaded, connections open, receivers reading.
	awaitReceiving(t, a, "b", rb)
	awaitReceiving(t, b, "a", ra)
	join("warm-up")

	must(t, ca.ConfigResetStat(ctx).Err())
	join("room")
	stats := commandStats(t, ca)
	delete(stats, "config|resetstat")
	delete(stats, "info")
	total := 0
	var lines []string
	for name, n := range stats {
		total += n
		lines = append(lines, fmt.Sprintf("%s=%d", name, n))
	}
	slices.Sort(lines)
	// Sent by the client: the scripts' EVALSHAs, each message's XADD and
	// PEXPIRE (one pipeline), the receivers' XREADs; the rest ran inside
	// the scripts.
	sent := stats["evalsha"] + 2*stats["xadd"] + stats["xread"]
	trips := stats["evalsha"] + stats["xadd"] + stats["xread"]
	t.Logf("join: %d commands in %d round trips sent, %d run inside scripts, %d in all: %s",
		sent, trips, total-sent, total, strings.Join(lines, " "))
	// What the code sends is fixed: three scripts, and for each message
	// an XADD and a PEXPIRE in one round trip. The XREADs depend on how
	// the receivers' blocking reads fall, so they are only reported.
	for name, want := range map[string]int{"evalsha": 3, "xadd": 2, "pexpire": 2 + 1 /* Serve renewing the claim */} {
		if stats[name] != want {
			t.Errorf("%s called %d times, want %d", name, stats[name], want)
		}
	}
}

// commandStats returns the calls per command since the last reset.
func commandStats(t *testing.T, c *redis.Client) map[string]int {
	t.Helper()
	info, err := c.Info(ctx, "commandstats").Result()
	must(t, err)
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.Atoi(calls)
		must(t, err)
		out[name] = n
	}
	return out
}
