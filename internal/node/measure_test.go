package node_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/internal/redistest"
	"github.com/sfu-project/sfu/loadtest"
)

// TestMeasureCluster measures, for BENCHMARKS.md, what a cluster costs:
// the join time through the room's host and through the other node, and
// the Redis commands and bytes per join and per second of steady state
// (INFO commandstats). It runs only with SFU_MEASURE_CLUSTER=1:
//
//	SFU_MEASURE_CLUSTER=1 go test ./internal/node/ -run TestMeasureCluster -v
func TestMeasureCluster(t *testing.T) {
	if os.Getenv("SFU_MEASURE_CLUSTER") == "" {
		t.Skip("a measurement: set SFU_MEASURE_CLUSTER=1 to run it")
	}
	subscribers, _ := strconv.Atoi(os.Getenv("SFU_MEASURE_SUBSCRIBERS"))
	if subscribers == 0 {
		subscribers = 40
	}
	addr := redistest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err := cluster.Open(ctx, "redis://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r, err := cluster.NewRedis(client)
	if err != nil {
		t.Fatal(err)
	}
	store := cluster.Store{Registry: r, Directory: r, Bus: r}
	var nodes []*node.Node
	var urls []string
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		n := nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Keys = clusterKeys
			c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
		}, node.WithStore(store))
		nodes = append(nodes, n)
		urls = append(urls, wsURL(n))
	}
	idle := redisStats(t, ctx, client)
	time.Sleep(10 * time.Second)
	quiet := redisStats(t, ctx, client).minus(idle)
	t.Logf("two idle nodes: %.1f commands/s, %.0f bytes/s in, %.0f out", float64(quiet.calls)/10, float64(quiet.in)/10, float64(quiet.out)/10)

	token := func(_ context.Context, _, room, identity string) (string, error) {
		return clusterToken(t, room, identity), nil
	}
	// Join times: two joins every half second, so that they are those of
	// a join, not of a queue of them.
	rep, err := loadtest.Run(ctx, loadtest.RunConfig{
		URLs: urls, Rooms: 1, Publishers: 1, Subscribers: subscribers, Duration: time.Minute,
		SpreadParticipants: true, LoopbackOnly: true, RoomPrefix: "paced",
		RampStep: 2, RampEvery: 500 * time.Millisecond, Token: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := store.Directory.Host(ctx, "paced-0")
	t.Logf("paced joins, room host %s, participants through both nodes in turn:", host)
	for u, j := range rep.JoinMSByURL {
		t.Logf("join through %s: p50 %.0f ms, p99 %.0f ms, max %.0f ms", u, j.P50, j.P99, j.Max)
	}

	// Redis traffic: everyone at once, then steady.
	const duration = 40 * time.Second
	before := redisStats(t, ctx, client)
	var steadyFrom, steadyTo stats
	go func() {
		time.Sleep(duration - 15*time.Second)
		steadyFrom = redisStats(t, ctx, client)
		time.Sleep(10 * time.Second)
		steadyTo = redisStats(t, ctx, client)
	}()
	rep, err = loadtest.Run(ctx, loadtest.RunConfig{
		URLs: urls, Rooms: 1, Publishers: 1, Subscribers: subscribers, Duration: duration,
		SpreadParticipants: true, LoopbackOnly: true, RoomPrefix: "measure", Token: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	total := redisStats(t, ctx, client).minus(before)
	steady := steadyTo.minus(steadyFrom)
	joins := 1 + subscribers
	perSecond := float64(steady.calls) / 10
	joinCalls := (float64(total.calls) - perSecond*duration.Seconds()) / float64(joins)
	for u, j := range rep.JoinMSByURL {
		t.Logf("%d joins at once, through %s: p50 %.0f ms, p99 %.0f ms", joins, u, j.P50, j.P99)
	}
	t.Logf("steady state (%d participants): %.1f Redis commands/s, %.0f bytes/s in, %.0f out; by command %v",
		joins, perSecond, float64(steady.in)/10, float64(steady.out)/10, steady.byCommand)
	joinIn := (float64(total.in) - float64(steady.in)/10*duration.Seconds()) / float64(joins)
	joinOut := (float64(total.out) - float64(steady.out)/10*duration.Seconds()) / float64(joins)
	t.Logf("per join and leave, beyond the steady rate: %.1f Redis commands, %.0f bytes in, %.0f out; whole run %v", joinCalls, joinIn, joinOut, total.byCommand)
	t.Logf("run: tracks %d/%d, loss %.3f%%, not joined %d", rep.TracksReceived, rep.TracksExpected, rep.PacketLossPct, rep.NotJoined)
}

// stats are a Redis server's command calls and network bytes.
type stats struct {
	calls, in, out int64
	byCommand      map[string]int64
}

func (s stats) minus(o stats) stats {
	d := stats{calls: s.calls - o.calls, in: s.in - o.in, out: s.out - o.out, byCommand: map[string]int64{}}
	for k, v := range s.byCommand {
		if v -= o.byCommand[k]; v > 0 {
			d.byCommand[k] = v
		}
	}
	return d
}

// redisStats reads INFO commandstats and stats. The INFO call itself is
// not subtracted: one per reading.
func redisStats(t *testing.T, ctx context.Context, c redis.UniversalClient) stats {
	t.Helper()
	info, err := c.Info(ctx, "commandstats", "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	s := stats{byCommand: map[string]int64{}}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "cmdstat_"):
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, "calls="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					s.byCommand[strings.TrimPrefix(name, "cmdstat_")] = n
					s.calls += n
				}
			}
		case name == "total_net_input_bytes":
			s.in, _ = strconv.ParseInt(rest, 10, 64)
		case name == "total_net_output_bytes":
			s.out, _ = strconv.ParseInt(rest, 10, 64)
		}
	}
	return s
}
