package redistest_test

import (
	"strings"
	"testing"

	"github.com/sfu-project/sfu/internal/redistest"
)

func TestStopRestart(t *testing.T) {
	s := redistest.Start(t)
	if _, err := redistest.Command(s.Addr, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := redistest.Command(s.Addr, "PING"); err == nil {
		t.Fatal("a stopped server answered")
	}
	s.Restart(t)
	if v, err := redistest.Command(s.Addr, "EXISTS", "k"); err != nil || v != "0" {
		t.Fatalf("after restart EXISTS k = %q, %v; want 0: no persistence", v, err)
	}
}

func TestCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	if len(addrs) != 3 {
		t.Fatalf("%d addresses, want 3", len(addrs))
	}
	for _, a := range addrs {
		info, err := redistest.Command(a, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_size:3") {
			t.Fatalf("%s: %v %q", a, err, info)
		}
	}
}

func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	addr := redistest.Sentinel(t, master, "mymaster")
	reply, err := redistest.Command(addr, "PING")
	if err != nil || reply != "PONG" {
		t.Fatalf("sentinel PING: %q, %v", reply, err)
	}
}
