package signaling

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// TestClientAddress checks what a connection counts against: one IPv4
// address, or the /64 of an IPv6 one, from the socket's address only.
func TestClientAddress(t *testing.T) {
	for _, tc := range []struct {
		remote, forwarded, want string
	}{
		{"192.0.2.7:5000", "", "192.0.2.7/32"},
		{"192.0.2.7:5000", "198.51.100.1", "192.0.2.7/32"}, // a header anyone can write is ignored
		{"[::ffff:192.0.2.7]:5000", "", "192.0.2.7/32"},
		{"[2001:db8:1:2:aaaa::1]:5000", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:6000", "", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:5000", "", "fe80::/64"},
		{"not an address", "", "invalid Prefix"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tc.forwarded)
		}
		if got := addressKey(clientAddress(r)).String(); got != tc.want {
			t.Errorf("clientAddress(%q) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

// TestAdmission checks the two caps and that released slots are reused
// and forgotten.
func TestAdmission(t *testing.T) {
	cfg := Config{MaxConnections: 3, MaxConnectionsPerAddress: 2}
	a := admission{byAddr: map[netip.Prefix]int{}}
	x, y := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, step := range []struct {
		addr netip.Addr
		want string
	}{
		{x, ""}, {x, ""}, {x, refusedAddressFull}, {y, ""}, {y, refusedServerFull},
	} {
		if got := a.admitLocked(&cfg, step.addr); got != step.want {
			t.Fatalf("step %d: admit %s = %q, want %q", i, step.addr, got, step.want)
		}
	}
	a.releaseLocked(x)
	if got := a.admitLocked(&cfg, y); got != "" {
		t.Fatalf("after a release: %q", got)
	}
	a.releaseLocked(x)
	a.releaseLocked(y)
	a.releaseLocked(y)
	if a.total != 0 || len(a.byAddr) != 0 {
		t.Errorf("after releasing all: total %d, addresses %v", a.total, a.byAddr)
	}
	unlimited := Config{}
	for range 100 {
		if got := a.admitLocked(&unlimited, x); got != "" {
			t.Fatalf("no caps: %q", got)
		}
	}
}

// TestAdmissionExempt checks that exempt addresses (by default the
// machine's own) have no per-address cap, but count toward the total.
func TestAdmissionExempt(t *testing.T) {
	exempt, err := parsePrefixes(Default().ExemptAddresses)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{MaxConnections: 5, MaxConnectionsPerAddress: 1}
	a := admission{byAddr: map[netip.Prefix]int{}, exempt: exempt}
	v4 := clientAddress(&http.Request{RemoteAddr: "127.0.0.1:1000"})
	v6 := clientAddress(&http.Request{RemoteAddr: "[::1]:1000"})
	other := netip.MustParseAddr("192.0.2.1")
	for i, step := range []struct {
		addr netip.Addr
		want string
	}{
		{v4, ""}, {v4, ""}, {v6, ""}, {v6, ""}, {other, ""}, {v4, refusedServerFull},
	} {
		if got := a.admitLocked(&cfg, step.addr); got != step.want {
			t.Fatalf("step %d: admit %s = %q, want %q", i, step.addr, got, step.want)
		}
	}
	a.releaseLocked(v4)
	if got := a.admitLocked(&cfg, other); got != refusedAddressFull {
		t.Errorf("a second connection from a capped address: %q, want %q", got, refusedAddressFull)
	}
}

// TestConfigValidate refuses what the server cannot use.
func TestConfigValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tweak := range []func(*Config){
		func(c *Config) { c.ExemptAddresses = []string{"10.0.0.0/33"} },
		func(c *Config) { c.ExemptAddresses = []string{"proxy.example"} },
		func(c *Config) { c.MaxConnectionsPerAddress = -1 },
		func(c *Config) { c.JoinTimeout = -time.Second },
	} {
		c := Default()
		tweak(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	c := Default()
	c.ExemptAddresses = []string{"10.1.2.3", "2001:db8::/48"}
	if err := c.Validate(); err != nil {
		t.Errorf("an address and a CIDR: %v", err)
	}
}
