package redistest

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster starts a Redis Cluster of three masters without replicas and
// returns their addresses once every node reports cluster_state:ok.
func Cluster(t testing.TB) []string {
	t.Helper()
	cli := need(t, "redis-cli")
	var addrs []string
	for range 3 {
		dir := t.TempDir()
		i := Start(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-port", strconv.Itoa(freePort(t)),
			"--cluster-node-timeout", "2000",
		)
		addrs = append(addrs, i.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(readyTimeout)
	for _, a := range addrs {
		for {
			info, err := Command(a, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && knowsAll(a, len(addrs)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ready in %s: %v %q", a, readyTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// knowsAll reports whether the node at addr sees n masters connected.
func knowsAll(addr string, n int) bool {
	nodes, err := Command(addr, "CLUSTER", "NODES")
	if err != nil {
		return false
	}
	connected := 0
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		if strings.Contains(line, "master") && strings.Contains(line, " connected") {
			connected++
		}
	}
	return connected == n
}
