package node_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/internal/redistest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// clusterKeys is the API key every node of a test cluster shares, so a
// token is good on any front door.
const clusterKeys = "cluster:0123456789abcdef0123456789abcdef"

// startCluster runs one node on each of ips, named node1, node2..., on
// store.
func startCluster(t *testing.T, store cluster.Store, ips ...string) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i, ip := range ips {
		nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Keys = clusterKeys
			c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
			// A burst of joins relayed to one host under -race on a busy
			// machine may take longer than the default 5 s; what these
			// tests check is where sessions end up, not how fast.
			c.Cluster.CallTimeout = 20 * time.Second
		}, node.WithStore(store)))
	}
	return nodes
}

// clusterToken mints a token of the shared key for identity in room.
func clusterToken(t *testing.T, room, identity string) string {
	t.Helper()
	keys, err := signaling.ParseKeys(clusterKeys)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := keys.Mint("cluster", signaling.TokenRequest{Room: room, Identity: identity,
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func memoryStore() cluster.Store {
	m := cluster.NewMemory(time.Now)
	return cluster.Store{Registry: m, Directory: m, Bus: m}
}

func redisStore(t *testing.T) cluster.Store {
	addr := redistest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := cluster.Open(ctx, "redis://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	r, err := cluster.NewRedis(client, cluster.WithBlock(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return cluster.Store{Registry: r, Directory: r, Bus: r}
}

// TestAnyNodeIsAFrontDoor: three nodes on one shared state. Ann opens her
// WebSocket on node1, Bob on node2, Cid on node3, all for one room: the
// room lives on one node (node1, where it was first joined), Bob's and
// Cid's signaling is relayed to it, their ICE goes to its media address,
// and everyone receives everyone's audio and video, while node2 and node3
// hold no room at all.
func TestAnyNodeIsAFrontDoor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(*testing.T) cluster.Store
	}{
		{"memory", func(*testing.T) cluster.Store { return memoryStore() }},
		{"redis", redisStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startCluster(t, tc.store(t), "127.0.0.1", "127.0.0.2", "127.0.0.3")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const room = "hall"
			var clients []*loadtest.Client
			for i, who := range []string{"ann", "bob", "cid"} {
				c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(nodes[i]), Token: clusterToken(t, room, who), LoopbackOnly: true})
				if err != nil {
					t.Fatalf("%s joining through node%d: %v", who, i+1, err)
				}
				t.Cleanup(c.Close)
				if err := c.Publish(loadtest.DefaultMedia); err != nil {
					t.Fatalf("%s publishing through node%d: %v", who, i+1, err)
				}
				clients = append(clients, c)
			}
			host := nodes[0]
			for _, rx := range clients {
				for _, tx := range clients {
					if rx != tx {
						expectMedia(t, rx, tx, host.MediaAddr().String())
					}
				}
			}
			st, ok := host.SFU().RoomState(room)
			if !ok || len(st.Participants) != 3 {
				t.Errorf("the host holds %d participants (room found: %v), want 3", len(st.Participants), ok)
			}
			for i, n := range nodes[1:] {
				if got := n.SFU().RoomCount(); got != 0 {
					t.Errorf("node%d holds %d rooms, want none: it only relays", i+2, got)
				}
			}
		})
	}
}

// expectMedia waits until rx decodes tx's video and hears its audio, and
// checks the media comes from mediaAddr.
func expectMedia(t *testing.T, rx, tx *loadtest.Client, mediaAddr string) {
	t.Helper()
	what := fmt.Sprintf("%s receiving from %s", rx.Self.Identity, tx.Self.Identity)
	if c := settle(time.Now().Add(20*time.Second), func() string {
		var video, audio loadtest.TrackCounts
		for _, tc := range rx.Received() {
			if tc.ParticipantID != tx.Self.ID || tc.Ended {
				continue
			}
			if tc.Kind == "video" {
				video = tc
			} else {
				audio = tc
			}
		}
		if video.Keyframes == 0 || video.Frames < 30 || audio.Packets < 10 {
			return fmt.Sprintf("video %d keyframes, %d frames; audio %d packets", video.Keyframes, video.Frames, audio.Packets)
		}
		return ""
	}); c != "" {
		t.Fatalf("%s: %s", what, c)
	}
	receivers := rx.Subscriber().GetReceivers()
	if len(receivers) == 0 {
		t.Fatalf("%s: no receivers", what)
	}
	selected, err := receivers[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || selected == nil {
		t.Fatalf("%s: no selected candidate pair: %v", what, err)
	}
	if remote := net.JoinHostPort(selected.Remote.Address, fmt.Sprint(selected.Remote.Port)); remote != mediaAddr {
		t.Errorf("%s: media from %s, want the host's media address %s", what, remote, mediaAddr)
	}
}

func redisClusterStore(t *testing.T) cluster.Store {
	addrs := redistest.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := cluster.Open(ctx, "redis://"+strings.Join(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	r, err := cluster.NewRedis(client, cluster.WithBlock(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return cluster.Store{Registry: r, Directory: r, Bus: r}
}

// TestConcurrentJoinsOneHost: 120 clients join one new room at once, their
// WebSockets spread over three nodes. The room ends up on exactly one
// node with all 120 in it, every client is told the same room, and the
// directory agrees; when they leave, the room's state is gone. On memory,
// on a redis-server and on a 3-master Redis Cluster.
func TestConcurrentJoinsOneHost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(*testing.T) cluster.Store
	}{
		{"memory", func(*testing.T) cluster.Store { return memoryStore() }},
		{"redis", redisStore},
		{"redis-cluster", redisClusterStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			nodes := startCluster(t, store, "127.0.0.1", "127.0.0.2", "127.0.0.3")
			const room, joiners = "rush", 120
			var wg sync.WaitGroup
			conns := make([]*websocket.Conn, joiners)
			rooms := make([]string, joiners)
			errs := make([]error, joiners)
			for i := range joiners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					conns[i], rooms[i], errs[i] = rawJoin(nodes[i%3], clusterToken(t, room, fmt.Sprintf("p%02d", i)))
				}()
			}
			wg.Wait()
			for i, c := range conns {
				if c != nil {
					defer c.Close()
				}
				if errs[i] != nil {
					t.Fatalf("joiner %d through node%d: %v", i, i%3+1, errs[i])
				}
				if rooms[i] != room {
					t.Errorf("joiner %d was told it joined %q", i, rooms[i])
				}
			}
			var hosts []string
			for i, n := range nodes {
				if st, ok := n.SFU().RoomState(room); ok {
					hosts = append(hosts, fmt.Sprintf("node%d", i+1))
					if len(st.Participants) != joiners {
						t.Errorf("node%d holds %d participants, want all %d", i+1, len(st.Participants), joiners)
					}
				}
			}
			if len(hosts) != 1 {
				t.Fatalf("the room is on %v, want exactly one node", hosts)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if host, err := store.Directory.Host(ctx, room); err != nil || host != hosts[0] {
				t.Errorf("the directory says the host is %q (%v), want %s", host, err, hosts[0])
			}
			if c := settle(time.Now().Add(10*time.Second), func() string {
				if m, err := store.Directory.Members(ctx, room); err != nil || len(m) != joiners {
					return fmt.Sprintf("the directory lists %d members (%v), want %d", len(m), err, joiners)
				}
				return ""
			}); c != "" {
				t.Error(c)
			}
			for _, c := range conns {
				_ = c.Close()
			}
			if c := settle(time.Now().Add(15*time.Second), func() string {
				if host, err := store.Directory.Host(ctx, room); err != nil || host != "" {
					return fmt.Sprintf("after everyone left the room is still hosted by %q (%v)", host, err)
				}
				return ""
			}); c != "" {
				t.Error(c)
			}
		})
	}
}

// rawJoin joins through n's WebSocket with token and returns the open
// connection and the room the server says was joined.
func rawJoin(n *node.Node, token string) (*websocket.Conn, string, error) {
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(n), nil)
	if err != nil {
		return nil, "", err
	}
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	if err := ws.WriteJSON(map[string]any{"type": "join", "version": 2, "token": token}); err != nil {
		return ws, "", err
	}
	for {
		var m struct {
			Type, Room, Code, Message string
		}
		if err := ws.ReadJSON(&m); err != nil {
			return ws, "", err
		}
		switch m.Type {
		case "joined":
			_ = ws.SetReadDeadline(time.Time{})
			go drain(ws)
			return ws, m.Room, nil
		case "error":
			return ws, "", fmt.Errorf("%s: %s", m.Code, m.Message)
		}
	}
}

// drain reads ws until it closes, as a client does.
func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

// TestRedisOutage: Redis stops for 30 s under a running room on two nodes
// (Ann's WebSocket on the host, Bob's relayed through the other node).
// Media keeps flowing; a join to the running room through its host
// succeeds; a join to a new room through the other node is refused with
// "unavailable" within the call timeout rather than hanging. Redis comes
// back empty (no persistence): the nodes record the room, its host and
// its members again, and a new room can be joined through either node.
func TestRedisOutage(t *testing.T) {
	redisSrv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	client, err := cluster.Open(ctx, "redis://"+redisSrv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	r, err := cluster.NewRedis(client, cluster.WithBlock(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	store := cluster.Store{Registry: r, Directory: r, Bus: r}
	var nodes []*node.Node
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Keys = clusterKeys
			c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
			c.Cluster.Announce, c.Cluster.NodeTTL, c.Cluster.CallTimeout = 500*time.Millisecond, 3*time.Second, 2*time.Second
		}, node.WithStore(store)))
	}
	const room = "steady"
	join := func(n *node.Node, room, who string) (*loadtest.Client, error) {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: clusterToken(t, room, who), LoopbackOnly: true})
		if err != nil {
			return nil, err
		}
		t.Cleanup(c.Close)
		return c, c.Publish(loadtest.DefaultMedia)
	}
	ann, err := join(nodes[0], room, "ann")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := join(nodes[1], room, "bob")
	if err != nil {
		t.Fatal(err)
	}
	expectMedia(t, bob, ann, nodes[0].MediaAddr().String())
	expectMedia(t, ann, bob, nodes[0].MediaAddr().String())

	redisSrv.Stop()
	before := videoFrames(bob, ann)
	framesAtStop := before
	start := time.Now()
	_, err = join(nodes[1], "elsewhere", "dan")
	refusedIn := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), signaling.CodeUnavailable) {
		t.Errorf("a join to a new room during the outage: %v, want the error %q", err, signaling.CodeUnavailable)
	}
	t.Logf("a join to a new room during the outage was refused after %v", refusedIn.Round(time.Millisecond))
	if refusedIn > 10*time.Second {
		t.Errorf("the refusal took %v: the join hung", refusedIn)
	}
	cid, err := join(nodes[0], room, "cid")
	if err != nil {
		t.Errorf("a join to the running room through its host during the outage: %v", err)
	}
	// Media keeps flowing throughout: every 5 s of the 30 s outage brings
	// Bob frames from Ann (the clip runs at 30 frames per second).
	for window := 1; time.Since(start) < 30*time.Second; window++ {
		time.Sleep(min(5*time.Second, 30*time.Second-time.Since(start)))
		after := videoFrames(bob, ann)
		if after-before < 50 {
			t.Errorf("Bob received %d frames from Ann in window %d of the outage, want the video to keep flowing", after-before, window)
		}
		before = after
	}
	t.Logf("Bob received %d frames from Ann in the 30 s outage", videoFrames(bob, ann)-framesAtStop)

	redisSrv.Restart(t)
	if c := settle(time.Now().Add(15*time.Second), func() string {
		host, err := store.Directory.Host(ctx, room)
		if err != nil || host != "node1" {
			return fmt.Sprintf("the room's host after the restart is %q (%v), want node1", host, err)
		}
		members, err := store.Directory.Members(ctx, room)
		want := 3
		if cid == nil {
			want = 2 // its join failed, reported above
		}
		if err != nil || len(members) != want {
			return fmt.Sprintf("the directory lists %d members %+v (%v), want %d", len(members), members, err, want)
		}
		nodes, err := store.Registry.Nodes(ctx)
		if err != nil || len(nodes) != 2 {
			return fmt.Sprintf("the registry lists %d nodes (%v), want 2", len(nodes), err)
		}
		return ""
	}); c != "" {
		t.Error(c)
	}
	eve, err := join(nodes[1], "afterwards", "eve")
	if err != nil {
		t.Fatalf("a join to a new room after the restart: %v", err)
	}
	fay, err := join(nodes[0], "afterwards", "fay")
	if err != nil {
		t.Fatalf("a second join to that room, through the other node: %v", err)
	}
	// The room goes to the less utilised node, which both run in this
	// process: whichever it is, fay receives eve's media from it.
	host, err := store.Directory.Host(ctx, "afterwards")
	if err != nil || host == "" {
		t.Fatalf("the new room's host: %q (%v)", host, err)
	}
	hostNode := nodes[0]
	if host == "node2" {
		hostNode = nodes[1]
	}
	expectMedia(t, fay, eve, hostNode.MediaAddr().String())
}

// videoFrames is the video frames rx has received from tx.
func videoFrames(rx, tx *loadtest.Client) int { return loadtest.VideoFrames(rx.Received(), tx.Self.ID) }

// TestRoomSpansNodes: node1 takes at most two participants. Ann and Bob
// fill it; Cid, whose WebSocket is on node1 too, is served by node2, and
// Dan through node2 as well: the room spans both nodes, relayed between
// them, and everyone receives everyone's audio and video. Each node's
// room lists all four.
func TestRoomSpansNodes(t *testing.T) {
	store := memoryStore()
	var nodes []*node.Node
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
			*c = nodetest.Config(ip)
			c.Keys = clusterKeys
			c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
			c.Cluster.Announce, c.Cluster.NodeTTL = 200*time.Millisecond, time.Second
			if i == 0 {
				c.Cluster.MaxParticipants = 2
			}
		}, node.WithStore(store)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const room = "big"
	var clients []*loadtest.Client
	for i, who := range []string{"ann", "bob", "cid", "dan"} {
		via := nodes[i/3]
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(via), Token: clusterToken(t, room, who), LoopbackOnly: true})
		if err != nil {
			t.Fatalf("%s joining: %v", who, err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		// Let node1's announced load catch up with who it serves.
		time.Sleep(500 * time.Millisecond)
	}
	servedBy := []*node.Node{nodes[0], nodes[0], nodes[1], nodes[1]}
	for i, rx := range clients {
		for _, tx := range clients {
			if rx != tx {
				expectMedia(t, rx, tx, servedBy[i].MediaAddr().String())
			}
		}
	}
	for i, n := range nodes {
		st, ok := n.SFU().RoomState(room)
		if !ok {
			t.Errorf("node%d has no room %s", i+1, room)
			continue
		}
		t.Logf("node%d's room: %d participants", i+1, len(st.Participants))
	}
	servers, err := store.Directory.Servers(ctx, room)
	if err != nil || len(servers) != 2 {
		t.Errorf("the directory lists %v (%v) serving the room, want both nodes", servers, err)
	}

	// The last participants on node2 leave while node1 still has two:
	// node2 stops serving the room, whose state stays, with node1's two.
	clients[2].Close()
	clients[3].Close()
	if c := settle(time.Now().Add(10*time.Second), func() string {
		servers, err := store.Directory.Servers(ctx, room)
		if err != nil || len(servers) != 1 || servers[0] != "node1" {
			return fmt.Sprintf("after node2's last left the directory lists %v (%v) serving the room, want node1", servers, err)
		}
		members, err := store.Directory.Members(ctx, room)
		if err != nil || len(members) != 2 {
			return fmt.Sprintf("the directory lists %d members (%v), want node1's 2", len(members), err)
		}
		if host, err := store.Directory.Host(ctx, room); err != nil || host != "node1" {
			return fmt.Sprintf("the room's host is %q (%v), want node1", host, err)
		}
		if _, ok := nodes[1].SFU().RoomState(room); ok {
			return "node2 still holds the room"
		}
		return ""
	}); c != "" {
		t.Error(c)
	}
	expectMedia(t, clients[1], clients[0], nodes[0].MediaAddr().String())
}

// TestLimitHoldsUnderConcurrentJoins: a lone node limited to 3
// participants takes exactly 3 of 12 joins that arrive at once; the
// others are refused as unavailable (no other node to span to).
func TestLimitHoldsUnderConcurrentJoins(t *testing.T) {
	n := nodetest.Start(t, func(c *node.Config) {
		*c = nodetest.Config("127.0.0.1")
		c.Keys = clusterKeys
		c.Cluster.NodeID = "node1"
		c.Cluster.MaxParticipants = 3
	}, node.WithStore(memoryStore()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const joins = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	joined, refused := 0, 0
	for i := range joins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: clusterToken(t, "crowd", fmt.Sprintf("p%d", i)), LoopbackOnly: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				joined++
				t.Cleanup(c.Close)
			case strings.Contains(err.Error(), signaling.CodeUnavailable):
				refused++
			default:
				t.Errorf("join %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if joined != 3 || refused != joins-3 {
		t.Errorf("%d joined and %d were refused, want 3 and %d", joined, refused, joins-3)
	}
	if got := n.SFU().Load().Participants; got != 3 {
		t.Errorf("the node serves %d participants, want 3", got)
	}
}
