package signaling

import (
	"net/http"
	"net/netip"
	"testing"
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
		if got := clientAddress(r).String(); got != tc.want {
			t.Errorf("clientAddress(%q) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

// TestAdmission checks the two caps and that released slots are reused
// and forgotten.
func TestAdmission(t *testing.T) {
	cfg := Config{MaxConnections: 3, MaxConnectionsPerAddress: 2}
	a := admission{byAddr: map[netip.Prefix]int{}}
	x, y := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")
	for i, step := range []struct {
		addr netip.Prefix
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
