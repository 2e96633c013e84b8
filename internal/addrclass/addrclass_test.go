package addrclass

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want Class
	}{
		{"8.8.8.8", Public},
		{"2001:db8::1", Public},
		{"172.15.255.255", Public},
		{"172.32.0.0", Public},
		{"100.128.0.0", Public},
		{"10.0.0.1", Private},
		{"172.31.255.254", Private},
		{"192.168.1.5", Private},
		{"100.64.0.1", Private},
		{"fd12:3456::1", Private},
		{"127.255.0.9", Loopback},
		{"::1", Loopback},
		{"169.254.10.20", LinkLocal},
		{"fe80::1", LinkLocal},
		{"0.0.0.0", Unusable},
		{"::", Unusable},
		{"::7f00:1", Unusable}, // IPv4-compatible 127.0.0.1
		{"224.0.0.1", Unusable},
		{"ff02::fb", Unusable},
		{"255.255.255.255", Unusable},
		{"::ffff:127.0.0.1", Loopback}, // IPv4-mapped
		{"::ffff:10.1.2.3", Private},
		{"64:ff9b::7f00:1", Loopback}, // NAT64 of 127.0.0.1
		{"64:ff9b::808:808", Public},
	} {
		if got := Classify(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Classify(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if got := Classify(netip.Addr{}); got != Unusable {
		t.Errorf("Classify(zero) = %s, want %s", got, Unusable)
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	a := netip.MustParseAddr("64:ff9b::a00:1")
	if n := testing.AllocsPerRun(100, func() { _ = Classify(a) }); n != 0 {
		t.Errorf("Classify allocates %v times", n)
	}
}
