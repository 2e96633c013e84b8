package node_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// TestMeasureChat measures, for BENCHMARKS.md, chat latency through the
// server: one sender, N Go receivers on this machine (one clock), from the
// sender's write to each receiver's read. On one node, and on two nodes
// sharing a redis-server, the sender on node1 and the receivers split
// over both. It runs only with SFU_MEASURE_CHAT=1 (SFU_MEASURE_RECEIVERS,
// 50 by default; SFU_MEASURE_MESSAGES, 200):
//
//	SFU_MEASURE_CHAT=1 go test ./internal/node/ -run TestMeasureChat -v
func TestMeasureChat(t *testing.T) {
	if os.Getenv("SFU_MEASURE_CHAT") == "" {
		t.Skip("a measurement: set SFU_MEASURE_CHAT=1 to run it")
	}
	receivers, _ := strconv.Atoi(os.Getenv("SFU_MEASURE_RECEIVERS"))
	if receivers == 0 {
		receivers = 50
	}
	messages, _ := strconv.Atoi(os.Getenv("SFU_MEASURE_MESSAGES"))
	if messages == 0 {
		messages = 200
	}
	for _, tc := range []struct {
		name  string
		store func(*testing.T) cluster.Store
		nodes int
	}{
		{"one node", func(*testing.T) cluster.Store {
			m := cluster.NewMemory(time.Now)
			return cluster.Store{Registry: m, Directory: m, Bus: m, Chat: signaling.NewMemoryChat()}
		}, 1},
		{"two nodes, Redis", func(t *testing.T) cluster.Store { s, _ := chatRedisStore(t); return s }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			var nodes []*node.Node
			for i := range tc.nodes {
				nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
					*c = nodetest.Config(fmt.Sprintf("127.0.0.%d", i+1))
					c.Keys = clusterKeys
					c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
					c.Signaling.ChatRatePerSecond, c.Signaling.ChatBurst = 1000, 1000
				}, node.WithStore(store)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			dial := func(n *node.Node, who string) *loadtest.Client {
				c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: clusterToken(t, "measure", who), LoopbackOnly: true})
				if err != nil {
					t.Fatalf("%s: %v", who, err)
				}
				t.Cleanup(c.Close)
				return c
			}
			sender := dial(nodes[0], "sender")
			var rx []*loadtest.Client
			var where []int
			for i := range receivers {
				at := i % tc.nodes
				rx = append(rx, dial(nodes[at], fmt.Sprint("rx", i)))
				where = append(where, at)
			}
			time.Sleep(time.Second) // the joins' roster messages settle
			for i := range messages {
				_ = sender.SendChat(fmt.Sprintf("%d %d", i, time.Now().UnixNano()))
				time.Sleep(20 * time.Millisecond)
			}
			last := fmt.Sprint(messages-1, " ")
			lat := make([][]float64, tc.nodes)
			for i, c := range rx {
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					ms := c.Chat()
					if len(ms) > 0 && strings.HasPrefix(ms[len(ms)-1].Text, last) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("receiver %d has %d messages", i, len(ms))
					}
				}
				got := 0
				for _, m := range c.Chat() {
					var n int
					var sent int64
					if _, err := fmt.Sscanf(m.Text, "%d %d", &n, &sent); err == nil {
						lat[where[i]] = append(lat[where[i]], float64(m.Arrived.UnixNano()-sent)/1e6)
						got++
					}
				}
				if got != messages {
					t.Errorf("receiver %d got %d of %d messages", i, got, messages)
				}
			}
			for at, l := range lat {
				p := loadtest.PercentilesOf(l)
				t.Logf("%s: sender on node1, %d receivers on node%d: %d deliveries, latency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms",
					tc.name, len(l)/messages, at+1, len(l), p.P50, p.P95, p.P99, p.Max)
			}
		})
	}
}
