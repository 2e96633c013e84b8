package turnserver

import (
	"net/netip"
	"testing"
)

func TestPeerPolicy(t *testing.T) {
	nets, exact, err := parsePeers([]string{"10.1.0.0/16", "192.168.5.5:7882"})
	if err != nil {
		t.Fatal(err)
	}
	p := &peerPolicy{nets: nets, exact: exact}
	p.addSelf(netip.MustParseAddr("203.0.113.9"))
	p.addSelf(netip.MustParseAddr("10.1.0.9"))
	for _, port := range []int{3478, 5349, 7880} {
		p.addPort(port)
	}
	for _, tc := range []struct {
		addr     string
		ip, full reason
	}{
		{"8.8.8.8:3478", reasonNone, reasonNone},                            // a public peer's port that is ours on our addresses
		{"203.0.113.9:50000", reasonNone, reasonNone},                       // our public address, a relay port: relayed peers meet there
		{"203.0.113.9:3478", reasonNone, reasonPeerOwnPort},                 // our TURN port
		{"203.0.113.9:7880", reasonNone, reasonPeerOwnPort},                 // our HTTP port
		{"10.1.2.3:5000", reasonNone, reasonNone},                           // an allowed network
		{"10.1.0.9:5349", reasonNone, reasonPeerOwnPort},                    // ours, inside an allowed network
		{"10.2.0.1:5000", reasonPeerPrivate, reasonPeerPrivate},             // outside it
		{"192.168.5.5:7882", reasonNone, reasonNone},                        // the exact allowed peer
		{"192.168.5.5:7883", reasonNone, reasonPeerPrivate},                 // its address, another port
		{"127.0.0.1:3478", reasonPeerLoopback, reasonPeerOwnPort},           // loopback is always ours
		{"127.0.0.1:9000", reasonPeerLoopback, reasonPeerLoopback},          //
		{"[::ffff:127.0.0.1]:9000", reasonPeerLoopback, reasonPeerLoopback}, // IPv4-mapped
		{"169.254.169.254:80", reasonPeerLinkLocal, reasonPeerLinkLocal},    // cloud metadata
		{"[fe80::1]:80", reasonPeerLinkLocal, reasonPeerLinkLocal},
		{"224.0.0.251:5353", reasonPeerUnusable, reasonPeerUnusable},
		{"0.0.0.0:80", reasonPeerUnusable, reasonPeerUnusable},
		{"[::]:80", reasonPeerUnusable, reasonPeerUnusable},
		{"8.8.8.8:0", reasonNone, reasonPeerUnusable},
		{"[64:ff9b::a01:203]:80", reasonPeerPrivate, reasonPeerPrivate}, // NAT64 of 10.1.2.3: not in the network as written
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		if got := p.allowIP(ap.Addr()); got != tc.ip {
			t.Errorf("allowIP(%s) = %q, want %q", ap.Addr(), got, tc.ip)
		}
		if got := p.allowAddr(ap); got != tc.full {
			t.Errorf("allowAddr(%s) = %q, want %q", ap, got, tc.full)
		}
	}
	ap := netip.MustParseAddrPort("10.2.0.1:5000")
	if n := testing.AllocsPerRun(100, func() { _ = p.allowAddr(ap) }); n != 0 {
		t.Errorf("allowAddr allocates %v times per datagram", n)
	}
}

func TestParsePeers(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "host:80", "10.0.0.1", "10.0.0.1:0", ""} {
		if _, _, err := parsePeers([]string{bad}); err == nil {
			t.Errorf("parsePeers(%q) accepted", bad)
		}
	}
}
