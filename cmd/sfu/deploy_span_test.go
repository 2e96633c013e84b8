package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/redistest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// maxPause is the longest pause the participants a node's death does not
// touch may see in each other's media: a pause, not a timing benchmark
// (a failover costs seconds).
const maxPause = time.Second

// TestSpanningRoomBehindLoadBalancer: four sfu processes that take at
// most four participants each, behind HAProxy. Four publishers and eight
// subscribers of one room fill its host and spill onto two more nodes:
// the room spans three nodes, relayed between them, and the fourth is
// spare. Then the node serving the room that is not its host and serves
// the most publishers is killed (SIGKILL). Its participants, and those
// whose WebSocket it carried, lose their connection and rejoin by
// themselves; every pause in their media ends. Every other participant
// keeps its session (Redis lists the same member before and after), and
// every pair of such a subscriber and publisher, those relayed between
// the two surviving nodes included, keeps its media throughout: no pause
// in its video or audio reaches maxPause, from its first media to the
// end of the run. Publishers send simulcast and subscribers ask for the
// lowest layer: with four top layers (6 Mbit/s a subscriber) some video
// pauses for seconds at the start of a run, on one node too, while the
// subscribers' bandwidth estimates climb, which is no part of a failover.
func TestSpanningRoomBehindLoadBalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of real processes")
	}
	redisAddr := redistest.Server(t)
	bin := sfuBinary(t)
	cfg := filepath.Join(t.TempDir(), "sfu.yaml")
	if err := os.WriteFile(cfg, []byte("cluster:\n  max_participants: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []*deployNode
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		nodes = append(nodes, startDeployNode(t, bin, fmt.Sprintf("sfu%d", i+1), ip, "redis://"+redisAddr, "--config", cfg))
	}
	lb := net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t, "127.0.0.1")))
	startHAProxy(t, lb, nodes)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	dir, err := cluster.NewRedis(rdb)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signaling.ParseKeys(deployKeys)
	if err != nil {
		t.Fatal(err)
	}
	const (
		room                    = "span-0"
		publishers, subscribers = 4, 8
		// The kill comes about 10.5 s in, and the media of those who
		// rejoin is back 4-8 s after it (CI): what is left of the run
		// watches the pairs the kill did not touch.
		duration       = 35 * time.Second
		continuityFrom = 8 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		r   *loadtest.RunReport
		err error
	}
	results := make(chan result, 1)
	lowLayer := 0
	started := time.Now()
	go func() {
		r, err := loadtest.Run(ctx, loadtest.RunConfig{
			URLs: []string{"ws://" + lb + "/ws"}, Rooms: 1, Publishers: publishers, Subscribers: subscribers,
			Duration: duration, LoopbackOnly: true, RoomPrefix: "span", Simulcast: true, MaxLayer: &lowLayer,
			// From well after the room formed (under a second) to the end:
			// the kill comes 10 s after it formed. While it forms, relays
			// between its nodes may open again (a 5.4 s pause was seen
			// once, 0.8 s into a run): that is not what this test checks.
			ContinuityFrom: continuityFrom,
			Token: func(_ context.Context, _, room, identity string) (string, error) {
				return keys.Mint("deploy", signaling.TokenRequest{Room: room, Identity: identity,
					Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
			},
		})
		results <- result{r, err}
	}()

	// Wait for every participant in the room, then let media flow.
	var before map[string][]cluster.Member // by identity
	var servers []string
	for deadline := time.Now().Add(25 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		before = membersByIdentity(ctx, t, dir, room)
		servers, err = rdb.ZRange(ctx, "sfu:room:{"+room+"}:servers", 0, -1).Result()
		if err == nil && len(before) == publishers+subscribers && len(servers) == 3 || time.Now().After(deadline) {
			break
		}
	}
	host, err := rdb.Get(ctx, "sfu:room:{"+room+"}:host").Result()
	if err != nil {
		t.Fatalf("the room's host in Redis: %v", err)
	}
	if len(before) != publishers+subscribers || len(servers) != 3 {
		t.Fatalf("the room's members are %v, the room served by %v: want %d members over three nodes", before, servers, publishers+subscribers)
	}
	time.Sleep(10 * time.Second)

	// The victim: the non-host node with the most publishers, so that the
	// others lose some of the room's media and must keep the rest.
	on := func(node, kind string) int {
		n := 0
		for id, ms := range before {
			if ms[0].Node == node && strings.HasPrefix(id, kind) {
				n++
			}
		}
		return n
	}
	var victim *deployNode
	for _, n := range nodes {
		if n.id != host && slices.Contains(servers, n.id) && (victim == nil || on(n.id, "pub") > on(victim.id, "pub")) {
			victim = n
		}
	}
	killedAt := time.Since(started).Seconds()
	if killedAt < continuityFrom.Seconds()+1 {
		t.Fatalf("the kill at %.1f s would come before the continuity figures start (%v)", killedAt, continuityFrom)
	}
	t.Logf("the room spans %v, hosted by %s; members %v; killing %s (serving %d publishers, %d subscribers) %.1f s into the run",
		servers, host, nodeOf(before), victim.id, on(victim.id, "pub"), on(victim.id, "sub"), killedAt)
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)

	// Near the end of the run, who kept their session: the same member,
	// on a surviving node, as before the kill, and no other.
	time.Sleep(time.Until(started.Add(duration - 4*time.Second)))
	after := membersByIdentity(ctx, t, dir, room)
	kept := map[string]bool{}
	for id, ms := range after {
		kept[id] = len(ms) == 1 && len(before[id]) == 1 && ms[0].ID == before[id][0].ID
	}
	pairs, relayed := 0, 0
	for sub := range kept {
		for pub := range kept {
			if kept[sub] && kept[pub] && strings.HasPrefix(sub, "sub") && strings.HasPrefix(pub, "pub") {
				pairs++
				if before[sub][0].Node != before[pub][0].Node {
					relayed++
				}
			}
		}
	}
	res := <-results
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	rc := res.r.Reconnects
	t.Logf("%d participants disconnected %v; %d attempts, %d succeeded, failures %v; rejoin ms %+v; media gap ms %+v; video gap ms %+v",
		rc.Participants, rc.Disconnects, rc.Attempts, rc.Succeeded, rc.Failures, rc.RejoinMS, rc.MediaGapMS, rc.VideoGapMS)
	c := res.r.Continuity
	t.Logf("members at the end %v; %d pairs kept their sessions (%d relayed between nodes), %d measured: longest video pause ms %+v, audio %+v; worst pair %s, from %.1f s",
		nodeOf(after), pairs, relayed, c.Pairs, c.VideoGapMS, c.AudioGapMS, c.WorstPair, c.WorstAtS)
	if rc.Participants == 0 || on(victim.id, "") > rc.Participants {
		t.Errorf("%d participants lost their connection, want at least the %d %s served", rc.Participants, on(victim.id, ""), victim.id)
	}
	if n := publishers + subscribers - count(kept); rc.Participants != n {
		t.Errorf("%d participants lost their connection, yet %d changed session in Redis", rc.Participants, n)
	}
	if rc.NotBack != 0 || rc.Unresumed != 0 {
		t.Errorf("%d participants not back, %d media pauses not resumed", rc.NotBack, rc.Unresumed)
	}
	if res.r.TracksReceived != res.r.TracksExpected {
		t.Errorf("tracks at the end: %d of %d", res.r.TracksReceived, res.r.TracksExpected)
	}
	if relayed == 0 {
		t.Errorf("no pair relayed between the surviving nodes kept its sessions: nothing to watch")
	}
	if c.Pairs != pairs {
		t.Errorf("%d pairs measured, want the %d that kept their sessions", c.Pairs, pairs)
	}
	if limit := float64(maxPause.Milliseconds()); c.VideoGapMS.Max >= limit || c.AudioGapMS.Max >= limit {
		t.Errorf("a pair the kill did not touch paused: video %.0f ms, audio %.0f ms (worst %s, from %.1f s into the run, the kill at %.1f s); want under %v",
			c.VideoGapMS.Max, c.AudioGapMS.Max, c.WorstPair, c.WorstAtS, killedAt, maxPause)
	}
}

// membersByIdentity returns the members of room on live nodes, by
// identity.
func membersByIdentity(ctx context.Context, t *testing.T, dir *cluster.Redis, room string) map[string][]cluster.Member {
	t.Helper()
	members, err := dir.Members(ctx, room)
	if err != nil {
		t.Logf("members of %s: %v", room, err)
		return nil
	}
	out := map[string][]cluster.Member{}
	for _, m := range members {
		var info struct{ Identity string }
		if err := json.Unmarshal(m.Info, &info); err != nil {
			t.Fatalf("member %s: %v", m.ID, err)
		}
		out[info.Identity] = append(out[info.Identity], m)
	}
	return out
}

// nodeOf lists the node serving each identity's members.
func nodeOf(members map[string][]cluster.Member) map[string][]string {
	out := map[string][]string{}
	for id, ms := range members {
		for _, m := range ms {
			out[id] = append(out[id], m.Node)
		}
	}
	return out
}

// count is how many of m are true.
func count(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
