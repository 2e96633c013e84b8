package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sfu-project/sfu/loadtest"
)

// multihomeLab is a server with two interfaces, and a client behind a NAT
// that reaches the server's advertised address on one interface while
// the server's route back leaves by the other: the shape of a cloud
// machine with a public and a private interface whose default route is
// the private one's. Three network namespaces, made and removed by the
// test, hold it:
//
//	client 192.168.50.2 ── cN│nC 192.168.50.1   NAT, outside address 10.200.9.1 (on lo)
//	                              nA 10.200.1.1 ── sA 10.200.1.2  server: A, advertised
//	                              nB 10.200.2.1 ── sB 10.200.2.2  server: B, default route
//
// The NAT sends what the client sends to A out of nA with its outside
// address as source (snat, not masquerade: masquerade would take nA's
// address, on A's subnet, and the server would answer over A). The
// server's route to that address is its default route, out of sB, so its
// answers reach the NAT on nB: the NAT translates them back to the client
// only when their source is the address the client wrote to. Its forward
// chain lets in nothing the client did not start, as a home router does.
// Reverse-path filtering is loose in the server and the NAT, which see
// packets arrive on an interface their route back does not use.
type multihomeLab struct {
	server, nat, client string // the namespaces
}

const (
	mhAdvertised = "10.200.1.2"   // the server's address on A, its node IP
	mhOther      = "10.200.2.2"   // its address on B
	mhNATOutside = "10.200.9.1"   // the NAT's outside address
	mhClientIP   = "192.168.50.2" // the client's, behind the NAT
	mhTable      = "sfumultihome" // the NAT's nftables table
	mhMediaPort  = 7882
	mhHTTPPort   = 7880
)

var multihomeSeq atomic.Uint32

// newMultihomeLab builds the namespaces, removed (and checked gone) when
// the test ends. Where they cannot be built the test is skipped, except
// in CI (CI=true), where that is a failure.
func newMultihomeLab(t *testing.T) *multihomeLab {
	t.Helper()
	if err := loadtest.Available(); err != nil {
		if os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	base := fmt.Sprintf("sfumh%d-%d", os.Getpid(), multihomeSeq.Add(1))
	l := &multihomeLab{server: base + "-srv", nat: base + "-nat", client: base + "-cli"}
	var made []string
	t.Cleanup(func() {
		for _, ns := range made {
			if err := loadtest.RunTool("", "ip", "netns", "del", ns); err != nil {
				t.Error(err)
			}
		}
		for _, ns := range made {
			// Deleting a namespace removes its veths and nftables table.
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
				t.Errorf("namespace %s left behind", ns)
			}
		}
	})
	for _, ns := range []string{l.server, l.nat, l.client} {
		if err := loadtest.RunTool("", "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		made = append(made, ns)
	}
	in := func(ns string, args ...string) {
		t.Helper()
		if err := loadtest.RunTool("", "ip", append([]string{"-n", ns}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	sysctl := func(ns string, settings ...string) {
		t.Helper()
		for _, s := range settings {
			if err := loadtest.RunToolIn(ns, "", "sysctl", "-qw", s); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The effective rp_filter of an interface is the larger of "all" and
	// its own: 2 (loose) on "all" makes every interface loose.
	sysctl(l.server, "net.ipv4.conf.all.rp_filter=2")
	sysctl(l.nat, "net.ipv4.conf.all.rp_filter=2", "net.ipv4.ip_forward=1")

	in(l.server, "link", "add", "sA", "type", "veth", "peer", "name", "nA", "netns", l.nat)
	in(l.server, "link", "add", "sB", "type", "veth", "peer", "name", "nB", "netns", l.nat)
	in(l.client, "link", "add", "cN", "type", "veth", "peer", "name", "nC", "netns", l.nat)
	for _, a := range []struct{ ns, dev, addr string }{
		{l.server, "sA", mhAdvertised + "/24"},
		{l.server, "sB", mhOther + "/24"},
		{l.nat, "nA", "10.200.1.1/24"},
		{l.nat, "nB", "10.200.2.1/24"},
		{l.nat, "nC", "192.168.50.1/24"},
		{l.nat, "lo", mhNATOutside + "/32"},
		{l.client, "cN", mhClientIP + "/24"},
	} {
		in(a.ns, "addr", "add", a.addr, "dev", a.dev)
	}
	for _, ns := range []string{l.server, l.nat, l.client} {
		in(ns, "link", "set", "lo", "up")
	}
	for _, d := range []struct{ ns, dev string }{{l.server, "sA"}, {l.server, "sB"}, {l.nat, "nA"}, {l.nat, "nB"}, {l.nat, "nC"}, {l.client, "cN"}} {
		in(d.ns, "link", "set", d.dev, "up")
	}
	in(l.server, "route", "add", "default", "via", "10.200.2.1", "dev", "sB")
	in(l.client, "route", "add", "default", "via", "192.168.50.1", "dev", "cN")

	// The counters tell which source address the server's media port
	// answers from, as the packets reach the NAT over B.
	script := fmt.Sprintf(`table ip %[1]s {
	counter advertised {}
	counter other {}
	chain prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname "nB" ip saddr %[2]s udp sport %[3]d counter name "advertised"
		iifname "nB" ip saddr %[4]s udp sport %[3]d counter name "other"
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "nC" oifname "nA" accept
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "nA" ip saddr 192.168.50.0/24 snat to %[5]s
	}
}
`, mhTable, mhAdvertised, mhMediaPort, mhOther, mhNATOutside)
	if err := loadtest.RunToolIn(l.nat, script, "nft", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	return l
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

// answers returns how many UDP packets from the server's media port have
// reached the NAT over B with the advertised address as their source,
// and with B's.
func (l *multihomeLab) answers(t *testing.T) (advertised, other int) {
	t.Helper()
	count := func(name string) int {
		out, err := loadtest.CommandIn(context.Background(), l.nat, "nft", "list", "counter", "ip", mhTable, name).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list counter %s: %v: %s", name, err, out)
		}
		m := nftPackets.FindSubmatch(out)
		if m == nil {
			t.Fatalf("nft list counter %s: no packet count in %q", name, strings.TrimSpace(string(out)))
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	return count("advertised"), count("other")
}
