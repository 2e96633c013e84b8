package sfu

import (
	"net"
	"net/netip"
	"testing"
)

func TestMediaBindIP(t *testing.T) {
	local := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("198.51.100.4"), netip.MustParseAddr("fe80::1")}
	for _, tc := range []struct {
		name, nodeIP, bind string
		want               string // "" for every address
	}{
		{name: "no node IP", want: ""},
		{name: "node IP on an interface", nodeIP: "198.51.100.4", want: "198.51.100.4"},
		{name: "private node IP on an interface", nodeIP: "10.0.0.5", want: "10.0.0.5"},
		{name: "node IP behind a 1:1 NAT", nodeIP: "203.0.113.7", want: ""},
		{name: "loopback node IP", nodeIP: "127.0.0.1", want: "127.0.0.1"},
		{name: "loopback node IP not listed on lo", nodeIP: "127.0.0.2", want: "127.0.0.2"},
		{name: "IPv6 node IP: the socket is IPv4", nodeIP: "fe80::1", want: ""},
		{name: "IPv4-mapped node IP", nodeIP: "::ffff:10.0.0.5", want: "10.0.0.5"},
		{name: "explicit bind behind a 1:1 NAT", nodeIP: "203.0.113.7", bind: "10.0.0.5", want: "10.0.0.5"},
		{name: "explicit bind without node IP", bind: "198.51.100.4", want: "198.51.100.4"},
		{name: "every address though node IP is local", nodeIP: "198.51.100.4", bind: "0.0.0.0", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.NodeIP, cfg.MediaBind = tc.nodeIP, tc.bind
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			got := cfg.mediaBindIP(local)
			if tc.want == "" && got != nil || tc.want != "" && !got.Equal(net.ParseIP(tc.want)) {
				t.Errorf("bound to %v, want %q", got, tc.want)
			}
		})
	}
}

func TestMediaBindValidate(t *testing.T) {
	for _, bad := range []string{"localhost", "::1", "10.0.0.5:7882", "10.0.0"} {
		cfg := Default()
		cfg.MediaBind = bad
		if err := cfg.Validate(); err == nil {
			t.Errorf("media bind %q accepted", bad)
		}
	}
}

// TestMediaSocketBinding opens the media socket as New does: on the
// advertised address when the host has it, on every address when it does
// not (a 1:1 NAT), and where media_bind says.
func TestMediaSocketBinding(t *testing.T) {
	for _, tc := range []struct {
		name, nodeIP, bind, want string
	}{
		{"local node IP", "127.0.0.1", "", "127.0.0.1"},
		{"node IP behind a 1:1 NAT", "203.0.113.7", "", "0.0.0.0"},
		{"media_bind", "203.0.113.7", "127.0.0.1", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.UDPPort = 0
			cfg.NodeIP, cfg.MediaBind = tc.nodeIP, tc.bind
			s, err := New(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.MediaAddr().(*net.UDPAddr).IP; !got.Equal(net.ParseIP(tc.want)) {
				t.Errorf("media socket on %v, want %s", got, tc.want)
			}
		})
	}
}
