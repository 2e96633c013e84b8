package turnserver_test

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/turnserver"
)

// TestRelay: over UDP, TCP and TLS, a client with valid credentials gets
// an allocation on the public address, and data goes both ways between it
// and an allowed peer; the allocation ends with the client's.
func TestRelay(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			p := newPeer(t)
			s, logs := start(t, testConfig(t), turnserver.Options{AllowedPeers: []netip.AddrPort{p.ap}})
			defer func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			}()
			client := dial(t, s, tr, credential("ann"))
			relay, err := client.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			relayed := relay.LocalAddr().(*net.UDPAddr)
			if !relayed.IP.Equal(net.IPv4(127, 0, 0, 1)) || relayed.Port == 0 {
				t.Errorf("relayed address %s, want 127.0.0.1 and a port", relayed)
			}
			if n := s.Allocations(); n != 1 {
				t.Errorf("server holds %d allocations, want 1", n)
			}
			if _, err := relay.WriteTo([]byte("hello "+tr), net.UDPAddrFromAddrPort(p.ap)); err != nil {
				t.Fatal(err)
			}
			got, from, ok := p.receive(5 * time.Second)
			if !ok || got != "hello "+tr {
				t.Fatalf("peer received %q (%v), want the client's datagram", got, ok)
			}
			if from.(*net.UDPAddr).Port != relayed.Port {
				t.Errorf("peer received from %s, want the relayed address %s", from, relayed)
			}
			// Over TCP, pion's framing waits for a ninth byte, so a reply
			// of under five bytes would stall until the next.
			if _, err := p.WriteTo([]byte("reply from the peer"), from); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, src, err := relay.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "reply from the peer" || src.(*net.UDPAddr).AddrPort() != p.ap {
				t.Fatalf("client read %q from %v (%v), want the peer's reply", buf[:n], src, err)
			}
			relay.Close()
			eventually(t, "the allocation to end", func() bool { return s.Allocations() == 0 })
		})
	}
}

// TestCredentialsRefused: expired, forged, foreign and malformed
// credentials get no allocation, each refusal is counted by reason and
// logged once however often it is repeated; a credential that expired
// after its allocation was made still refreshes it.
func TestCredentialsRefused(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name, reason string
		cred         turnserver.Credential
	}{
		{"expired", "expired", turnserver.NewCredential(testSecret, "ann", now.Add(-time.Second))},
		{"forged", "bad_credential", turnserver.Credential{Username: credential("ann").Username, Password: "c2VjcmV0"}},
		{"other secret", "bad_credential", turnserver.NewCredential("another-secret-entirely", "ann", now.Add(time.Hour))},
		{"longer expiry", "bad_credential", turnserver.Credential{Username: "9" + credential("ann").Username, Password: credential("ann").Password}},
		{"no expiry", "bad_username", turnserver.Credential{Username: "ann", Password: "x"}},
		{"no identity", "bad_username", turnserver.Credential{Username: "4102444800:", Password: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := start(t, testConfig(t), turnserver.Options{})
			for _, tr := range transports {
				client := dial(t, s, tr, tc.cred)
				for range 2 {
					if relay, err := client.Allocate(); err == nil {
						relay.Close()
						t.Fatalf("%s: allocated with %s credentials", tr, tc.name)
					}
				}
			}
			if n := s.Refusals(tc.reason); n < 6 {
				t.Errorf("%d refusals counted as %s, want 6", n, tc.reason)
			}
			if n := logs.count("turn: refused", "reason="+tc.reason); n != 1 {
				t.Errorf("%s logged %d times, want once:\n%s", tc.reason, n, logs.String())
			}
			if s.Allocations() != 0 {
				t.Errorf("%d allocations held", s.Allocations())
			}
		})
	}
}

// TestExpiredCredentialRefreshes: the expiry bounds new allocations only,
// so a call does not drop when its credentials expire.
func TestExpiredCredentialRefreshes(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	p := newPeer(t)
	s, _ := start(t, testConfig(t), turnserver.Options{AllowedPeers: []netip.AddrPort{p.ap}, Now: now})
	cred := turnserver.NewCredential(testSecret, "ann", now().Add(time.Minute))
	client := dial(t, s, "udp", cred)
	relay := allocate(t, client)
	clock.Add(int64(time.Hour)) // expired now, on the server's clock
	// A new permission is an authenticated request with the expired
	// credential; it succeeds, and data flows.
	if _, err := relay.WriteTo([]byte("still here"), net.UDPAddrFromAddrPort(p.ap)); err != nil {
		t.Fatalf("permission with an expired credential: %v", err)
	}
	if got, _, ok := p.receive(5 * time.Second); !ok || got != "still here" {
		t.Fatalf("peer received %q (%v)", got, ok)
	}
	// A new allocation is refused.
	if r, err := dial(t, s, "udp", cred).Allocate(); err == nil {
		r.Close()
		t.Fatal("new allocation with an expired credential")
	}
}

// TestForbiddenPeers: permissions to private, loopback, link-local,
// multicast and unspecified addresses are refused; a datagram to a port
// of an allowed peer's address other than the allowed one, or to the
// server's own ports on an allowed network, goes nowhere.
func TestForbiddenPeers(t *testing.T) {
	allowed, other := newPeer(t), newPeer(t)
	cfg := testConfig(t)
	s, logs := start(t, cfg, turnserver.Options{AllowedPeers: []netip.AddrPort{allowed.ap}})
	relay := allocate(t, dial(t, s, "udp", credential("ann")))

	for _, addr := range []string{"10.0.0.1:5000", "192.168.1.1:5000", "172.16.0.1:5000", "100.64.0.1:5000",
		"127.0.0.2:5000", "169.254.1.1:5000", "224.0.0.1:5000", "0.0.0.0:5000", "255.255.255.255:5000"} {
		if _, err := relay.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))); err == nil {
			t.Errorf("permission to %s granted", addr)
		}
	}
	for _, reason := range []string{"peer_private", "peer_loopback", "peer_link_local", "peer_unusable"} {
		if s.Refusals(reason) == 0 {
			t.Errorf("no %s refusal counted", reason)
		}
		if logs.count("turn: refused", "reason="+reason) == 0 {
			t.Errorf("no %s refusal logged", reason)
		}
	}

	// 127.0.0.1 has a permission (the allowed peer's address), but only
	// the allowed port is relayed to.
	for range 3 {
		if _, err := relay.WriteTo([]byte("to other"), net.UDPAddrFromAddrPort(other.ap)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := relay.WriteTo([]byte("to allowed"), net.UDPAddrFromAddrPort(allowed.ap)); err != nil {
		t.Fatal(err)
	}
	if got, _, ok := allowed.receive(5 * time.Second); !ok || got != "to allowed" {
		t.Fatalf("allowed peer received %q (%v)", got, ok)
	}
	// Datagrams of one relay are sent in order: the others were dropped.
	if got, _, ok := other.receive(100 * time.Millisecond); ok {
		t.Errorf("a port of 127.0.0.1 that is not allowed received %q", got)
	}
	eventually(t, "the refusals to be counted", func() bool { return s.Refusals("peer_loopback") >= 3 })
	if n := logs.count("turn: refused", "reason=peer_loopback", "peer="+other.ap.String()); n != 1 {
		t.Errorf("datagrams to %s logged %d times, want once", other.ap, n)
	}
}

// TestOwnPortsRefused: with loopback allowed as a network, the server's
// own listening ports and the other service ports it was told of are
// still refused, while another port on the same address is relayed to.
func TestOwnPortsRefused(t *testing.T) {
	p := newPeer(t)
	service := newPeer(t) // stands for the node's HTTP or media port
	cfg := testConfig(t)
	cfg.AllowedPeers = []string{"127.0.0.0/8"}
	s, _ := start(t, cfg, turnserver.Options{OwnPorts: []int{int(service.ap.Port())}})
	relay := allocate(t, dial(t, s, "udp", credential("ann")))
	own := []net.Addr{s.UDPAddr(), s.TCPAddr(), s.TLSAddr(), net.UDPAddrFromAddrPort(service.ap)}
	for _, a := range own {
		_, port, _ := net.SplitHostPort(a.String())
		to, _ := net.ResolveUDPAddr("udp4", "127.0.0.1:"+port)
		if _, err := relay.WriteTo([]byte("loop"), to); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := relay.WriteTo([]byte("fine"), net.UDPAddrFromAddrPort(p.ap)); err != nil {
		t.Fatal(err)
	}
	if got, _, ok := p.receive(5 * time.Second); !ok || got != "fine" {
		t.Fatalf("peer received %q (%v)", got, ok)
	}
	if got, _, ok := service.receive(100 * time.Millisecond); ok {
		t.Errorf("a service port received %q", got)
	}
	eventually(t, "the own-port refusals to be counted", func() bool { return s.Refusals("peer_own_port") >= uint64(len(own)) })
}

// TestQuota: an identity holds at most max_allocations_per_user
// allocations, over any transport; another identity is not affected, and
// a freed allocation can be made again.
func TestQuota(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxAllocationsPerUser = 2
	s, logs := start(t, cfg, turnserver.Options{})
	first := allocate(t, dial(t, s, "udp", credential("ann")))
	allocate(t, dial(t, s, "tcp", credential("ann")))
	for _, tr := range transports {
		if r, err := dial(t, s, tr, credential("ann")).Allocate(); err == nil {
			r.Close()
			t.Fatalf("%s: a third allocation for ann", tr)
		} else if !strings.Contains(err.Error(), "486") {
			t.Errorf("%s: refused with %v, want 486 Allocation Quota Reached", tr, err)
		}
	}
	allocate(t, dial(t, s, "udp", credential("bob")))
	if s.Refusals("quota") != 3 || logs.count("reason=quota", "user=ann") != 1 {
		t.Errorf("%d quota refusals counted, %d logged; want 3, 1", s.Refusals("quota"), logs.count("reason=quota", "user=ann"))
	}
	first.Close()
	eventually(t, "ann's first allocation to end", func() bool { return s.Allocations() == 2 })
	allocate(t, dial(t, s, "tls", credential("ann")))
}

// TestBitrateCap: what one identity relays beyond its bandwidth is
// dropped. The server's clock stands still, so exactly one second's
// burst gets through.
func TestBitrateCap(t *testing.T) {
	clock := time.Now()
	p := newPeer(t)
	cfg := testConfig(t)
	cfg.MaxUserBitrate = 64_000 // 8,000 bytes a second, and as a burst
	s, _ := start(t, cfg, turnserver.Options{AllowedPeers: []netip.AddrPort{p.ap}, Now: func() time.Time { return clock }})
	relay := allocate(t, dial(t, s, "udp", credential("ann")))
	payload := make([]byte, 1000)
	const sent = 20
	for range sent {
		if _, err := relay.WriteTo(payload, net.UDPAddrFromAddrPort(p.ap)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every datagram to be relayed or dropped", func() bool { return s.Refusals("bitrate") >= sent-8 })
	received := 0
	for {
		if _, _, ok := p.receive(100 * time.Millisecond); !ok {
			break
		}
		received++
	}
	if received != 8 || s.Refusals("bitrate") != sent-8 {
		t.Errorf("peer received %d of %d datagrams, %d dropped; want 8 received", received, sent, s.Refusals("bitrate"))
	}
}
