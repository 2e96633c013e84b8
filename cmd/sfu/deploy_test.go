package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sfu-project/sfu/internal/redistest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// deployKeys is the API key the nodes of the deployment test share.
const deployKeys = "deploy:0123456789abcdef0123456789abcdef"

// deployNode is one sfu process of the deployment test.
type deployNode struct {
	id, listen string
	cmd        *exec.Cmd
	stderr     lockedBuffer
	done       chan struct{}
}

// startDeployNode runs the sfu binary as node id on ip, on the cluster's
// Redis.
func startDeployNode(t *testing.T, bin, id, ip, redisURL string, extra ...string) *deployNode {
	t.Helper()
	n := &deployNode{id: id, listen: net.JoinHostPort(ip, fmt.Sprint(freePort(t, ip))), done: make(chan struct{})}
	args := append([]string{"--listen", n.listen, "--udp-port", "0", "--node-ip", ip,
		"--redis", redisURL, "--node-id", id, "--keys", deployKeys, "--log", "info"}, extra...)
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stderr = &n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", id, n.stderr.String())
		}
	})
	waitHealthy(t, "http://"+n.listen+"/healthz", n.done)
	return n
}

// freePort returns a TCP port free on ip a moment ago.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHealthy waits until url answers 200, failing if exited closes first.
func waitHealthy(t *testing.T, url string, exited <-chan struct{}) {
	t.Helper()
	c := http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s: the process exited", url)
		default:
		}
	}
	t.Fatalf("%s: not healthy after 15 s", url)
}

// startHAProxy runs HAProxy with deploy/haproxy.cfg, its frontend bound to
// listen and its servers replaced by nodes, and returns its address.
func startHAProxy(t *testing.T, listen string, nodes []*deployNode) {
	t.Helper()
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy is not installed (testdata/install-deps.sh installs it)")
		}
		t.Skip("haproxy is not installed; install it to run the deployment test")
	}
	shipped, err := os.ReadFile(filepath.Join("..", "..", "deploy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, n := range nodes {
		servers = append(servers, fmt.Sprintf("    server %s %s check", n.id, n.listen))
	}
	cfg := regexp.MustCompile(`(?m)^    server .*\n`).ReplaceAllString(string(shipped), "")
	cfg = regexp.MustCompile(`(?m)^    bind :80$`).ReplaceAllString(cfg, "    bind "+listen)
	cfg = strings.Replace(cfg, "    log stdout format raw local0 info\n", "", 1)
	cfg = strings.TrimRight(cfg, "\n") + "\n" + strings.Join(servers, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-db", "-f", path)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("haproxy:\n%s", out.String())
		}
	})
	waitHealthy(t, "http://"+listen+"/healthz", done)
}

// TestClusterBehindLoadBalancer runs the deployment the README describes:
// a redis-server, three sfu processes and HAProxy with the shipped
// configuration in front. A load run sends 2 publishers and 4 subscribers
// of one room through HAProxy, so their WebSockets land on all three
// nodes; meanwhile (1) the room's host is killed with SIGKILL and (2) the
// next host is sent SIGTERM (drained). After the kill every participant
// rejoins by itself and media flows again; the drained host asks every
// participant to move, and each moves make before break, losing no
// connection. The media gaps are reported.
func TestClusterBehindLoadBalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of real processes")
	}
	redisAddr := redistest.Server(t)
	bin := sfuBinary(t)
	var nodes []*deployNode
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		nodes = append(nodes, startDeployNode(t, bin, fmt.Sprintf("sfu%d", i+1), ip, "redis://"+redisAddr))
	}
	lb := net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t, "127.0.0.1")))
	startHAProxy(t, lb, nodes)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	keys, err := signaling.ParseKeys(deployKeys)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		signal syscall.Signal
	}{
		{"host killed", syscall.SIGKILL},
		{"host drained", syscall.SIGTERM},
	} {
		room := "deploy-" + strings.ReplaceAll(tc.name, " ", "-")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		type result struct {
			r   *loadtest.RunReport
			err error
		}
		results := make(chan result, 1)
		go func() {
			r, err := loadtest.Run(ctx, loadtest.RunConfig{
				URLs: []string{"ws://" + lb + "/ws"}, Rooms: 1, Publishers: 2, Subscribers: 4,
				Duration: 28 * time.Second, LoopbackOnly: true, RoomPrefix: room,
				Token: func(_ context.Context, _, room, identity string) (string, error) {
					return keys.Mint("deploy", signaling.TokenRequest{Room: room, Identity: identity,
						Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
				},
			})
			results <- result{r, err}
		}()
		time.Sleep(12 * time.Second)
		host, err := rdb.Get(ctx, "sfu:room:{"+room+"-0}:host").Result()
		if err != nil {
			cancel()
			t.Fatalf("%s: the room's host in Redis: %v", tc.name, err)
		}
		var victim *deployNode
		for _, n := range nodes {
			if n.id == host {
				victim = n
			}
		}
		if victim == nil {
			cancel()
			t.Fatalf("%s: the room is hosted by %q, not one of the nodes", tc.name, host)
		}
		t.Logf("%s: sending %v to %s, the room's host", tc.name, tc.signal, host)
		signalled := time.Now()
		exited := make(chan time.Duration, 1)
		go func() {
			select {
			case <-victim.done:
				exited <- time.Since(signalled)
			case <-time.After(90 * time.Second):
				close(exited)
			}
		}()
		_ = victim.cmd.Process.Signal(tc.signal)
		res := <-results
		cancel()
		if res.err != nil {
			t.Fatalf("%s: run: %v", tc.name, res.err)
		}
		rc, mv := res.r.Reconnects, res.r.Moves
		t.Logf("%s: %d participants disconnected %v; %d attempts, %d succeeded, failures %v; rejoin ms %+v; media gap ms %+v; video gap ms %+v; freezes over the run %d",
			tc.name, rc.Participants, rc.Disconnects, rc.Attempts, rc.Succeeded, rc.Failures, rc.RejoinMS, rc.MediaGapMS, rc.VideoGapMS, res.r.Freezes)
		if rc.NotBack != 0 || rc.Unresumed != 0 {
			t.Errorf("%s: %d participants not back, %d media pauses not resumed", tc.name, rc.NotBack, rc.Unresumed)
		}
		if tc.signal == syscall.SIGKILL && (rc.Participants == 0 || rc.Gaps == 0) {
			t.Errorf("%s: no participant lost its connection: the host's failure went unnoticed", tc.name)
		}
		if tc.signal == syscall.SIGTERM {
			if took, ok := <-exited; ok {
				t.Logf("%s: the drained node exited %s after the signal", tc.name, took.Round(time.Millisecond))
			} else {
				t.Errorf("%s: the drained node did not exit", tc.name)
			}
			// Drained, the host asks every client to move: each opens a new
			// session through HAProxy and leaves the old one once it has
			// media, so nobody loses a connection and nothing pauses.
			t.Logf("%s: %d moves by %d participants (%d unsettled, %d failed), attempts %d, failures %v; overlap ms %+v; gap ms, movers %+v, others %+v",
				tc.name, mv.Moves, mv.Participants, mv.Unsettled, mv.Failed, mv.Attempts, mv.Failures, mv.OverlapMS, mv.MovedGapMS, mv.OthersGapMS)
			if mv.Participants != 6 || mv.Failed != 0 || mv.Unresumed != 0 {
				t.Errorf("%s: %d of 6 participants moved, %d moves failed, %d pauses not resumed %q", tc.name, mv.Participants, mv.Failed, mv.Unresumed, mv.UnresumedWhat)
			}
			if mv.Gaps == 0 {
				t.Errorf("%s: no media gap measured across the moves", tc.name)
			}
			if rc.Participants != 0 {
				t.Errorf("%s: %d participants lost their connection %v; want every one moved", tc.name, rc.Participants, rc.Disconnects)
			}
			if res.r.TracksReceived != res.r.TracksExpected {
				t.Errorf("%s: tracks at the end: %d of %d", tc.name, res.r.TracksReceived, res.r.TracksExpected)
			}
		}
		// The victim stays down: the next case runs on the other two.
		live := nodes[:0]
		for _, n := range nodes {
			if n != victim {
				live = append(live, n)
			}
		}
		nodes = live
	}
}

// TestMeasureRelayCost measures, for BENCHMARKS.md, what relaying a room
// between nodes costs: two sfu processes, one publisher and
// SFU_MEASURE_SUBSCRIBERS (default 40) subscribers whose WebSockets
// alternate between the nodes, first with the whole room on one node
// (the other only relays signaling), then with each node taking half of
// the participants (the room spans both and the media is relayed). The
// harness reads both nodes' /metrics: server CPU per packet forwarded to
// subscribers, in each case. It runs only with SFU_MEASURE_RELAY=1.
func TestMeasureRelayCost(t *testing.T) {
	if os.Getenv("SFU_MEASURE_RELAY") == "" {
		t.Skip("a measurement: set SFU_MEASURE_RELAY=1 to run it")
	}
	subscribers := 40
	if v := os.Getenv("SFU_MEASURE_SUBSCRIBERS"); v != "" {
		fmt.Sscan(v, &subscribers)
	}
	redisAddr := redistest.Server(t)
	bin := sfuBinary(t)
	keys, err := signaling.ParseKeys(deployKeys)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := keys.Mint("deploy", signaling.TokenRequest{Room: "metrics", Identity: "measure", Grants: signaling.Grants{Admin: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		limit int
	}{
		{"one node hosts the room", 0},
		{"the room spans two nodes", (subscribers + 1 + 1) / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "sfu.yaml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf("cluster:\n  max_participants: %d\n", tc.limit)), 0o600); err != nil {
				t.Fatal(err)
			}
			var urls []string
			for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
				n := startDeployNode(t, bin, fmt.Sprintf("m%d", i+1), ip, "redis://"+redisAddr, "--config", cfg)
				urls = append(urls, "ws://"+n.listen+"/ws")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep, err := loadtest.Run(ctx, loadtest.RunConfig{
				URLs: urls, Rooms: 1, Publishers: 1, Subscribers: subscribers, Duration: 40 * time.Second,
				SpreadParticipants: true, LoopbackOnly: true, RoomPrefix: fmt.Sprintf("relay%d", tc.limit),
				MetricsToken: admin,
				Token: func(_ context.Context, _, room, identity string) (string, error) {
					return keys.Mint("deploy", signaling.TokenRequest{Room: room, Identity: identity,
						Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Server
			t.Logf("%s: %d subscribers (%d not joined), tracks %d/%d, loss %.3f%%; both servers: %.2f cores, %.0f packets/s forwarded, %.0f received, %.2f µs CPU per forwarded packet; join p50 %.0f ms",
				tc.name, subscribers, rep.NotJoined, rep.TracksReceived, rep.TracksExpected, rep.PacketLossPct, s.CPUCores, s.ForwardedPPS, s.ReceivedPPS, s.CPUUsPerForwardedPacket, rep.JoinMS.P50)
		})
	}
}
