package sfu

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want addrClass
	}{
		{"8.8.8.8", classPublic},
		{"203.0.113.7", classPublic},
		{"2001:db8::1", classPublic},
		{"10.0.0.1", classPrivate},
		{"10.255.255.255", classPrivate},
		{"172.16.0.1", classPrivate},
		{"172.31.255.254", classPrivate},
		{"172.15.255.255", classPublic},
		{"172.32.0.0", classPublic},
		{"192.168.1.5", classPrivate},
		{"100.64.0.1", classPrivate},
		{"100.127.255.255", classPrivate},
		{"100.128.0.0", classPublic},
		{"fd12:3456::1", classPrivate},
		{"fc00::1", classPrivate},
		{"127.0.0.1", classLoopback},
		{"127.255.0.9", classLoopback},
		{"::1", classLoopback},
		{"169.254.10.20", classLinkLocal},
		{"fe80::1", classLinkLocal},
		{"0.0.0.0", classUnusable},
		{"0.1.2.3", classUnusable},
		{"::", classUnusable},
		{"::7f00:1", classUnusable}, // IPv4-compatible 127.0.0.1
		{"224.0.0.1", classUnusable},
		{"239.255.255.250", classUnusable},
		{"ff02::fb", classUnusable},
		{"240.0.0.1", classUnusable},
		{"255.255.255.255", classUnusable},
		{"::ffff:127.0.0.1", classLoopback}, // IPv4-mapped: pion uses it as IPv4
		{"::ffff:10.1.2.3", classPrivate},
		{"::ffff:0.0.0.0", classUnusable},
		{"64:ff9b::7f00:1", classLoopback}, // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", classPrivate},
		{"64:ff9b::808:808", classPublic},
	} {
		if got := classify(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("classify(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if got := classify(netip.Addr{}); got != classUnusable {
		t.Errorf("classify(zero) = %s, want %s", got, classUnusable)
	}
}

func TestCandidatePolicy(t *testing.T) {
	const media, http = 7882, 7880
	lan := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("fe80::1")}
	public := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("198.51.100.4")}
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		local  []netip.Addr
		relays []RelayRange
		allow  []string
		deny   []string
	}{
		{
			name:  "public node",
			cfg:   func(c *Config) { c.NodeIP = "203.0.113.7" },
			local: public, // behind a 1:1 NAT, or with an address of its own
			allow: []string{"8.8.8.8:5000", "203.0.113.9:5000", "[::ffff:8.8.4.4]:5000", "198.51.100.4:5000"},
			deny: []string{
				"10.0.0.1:5000", "172.16.3.4:5000", "192.168.1.5:5000", "100.64.1.1:5000",
				"127.0.0.1:5000", "127.0.0.2:5000", "[::ffff:127.0.0.1]:5000", "169.254.1.1:5000",
				"0.0.0.0:5000", "224.0.0.251:5353", "255.255.255.255:5000", "239.255.255.250:1900",
				"203.0.113.7:7882", "203.0.113.7:7880", "198.51.100.4:7882", "127.0.0.1:7880",
				"8.8.8.8:0",
			},
		},
		{
			name:  "public node allowing private candidates",
			cfg:   func(c *Config) { c.NodeIP = "203.0.113.7"; c.AllowPrivateCandidates = true },
			local: public,
			allow: []string{"8.8.8.8:5000", "10.0.0.1:5000", "192.168.1.5:5000", "100.64.1.1:5000"},
			deny:  []string{"127.0.0.1:5000", "169.254.1.1:5000", "224.0.0.1:5000", "203.0.113.7:7882"},
		},
		{
			name:  "public node with LAN interfaces",
			cfg:   func(c *Config) { c.NodeIP = "203.0.113.7" },
			local: lan, // not advertised: NodeIP is
			allow: []string{"8.8.8.8:5000"},
			deny:  []string{"192.168.1.5:5000", "127.0.0.1:5000", "169.254.1.1:5000"},
		},
		{
			name:  "loopback node",
			cfg:   func(c *Config) { c.NodeIP = "127.0.0.1" },
			local: lan,
			allow: []string{"127.0.0.1:5000", "127.0.3.4:5000", "8.8.8.8:7882"},
			deny:  []string{"10.0.0.1:5000", "192.168.1.5:5000", "127.0.0.1:7882", "127.0.0.2:7880", "0.0.0.0:5000", "192.168.1.10:7882"},
		},
		{
			name:  "node on a LAN address",
			cfg:   func(c *Config) { c.NodeIP = "192.168.1.10" },
			local: lan,
			allow: []string{"192.168.1.5:5000", "10.0.0.1:5000", "8.8.8.8:5000"},
			deny:  []string{"127.0.0.1:5000", "169.254.1.1:5000", "192.168.1.10:7882", "192.168.1.10:7880"},
		},
		{
			name:  "no node IP: its interfaces",
			local: lan, // loopback is not advertised; link-local is IPv6 only here
			allow: []string{"192.168.1.5:5000", "8.8.8.8:5000"},
			deny:  []string{"127.0.0.1:5000", "169.254.1.1:5000", "192.168.1.10:7882", "127.0.0.1:7882"},
		},
		{
			name:  "no node IP, public interface",
			local: public,
			allow: []string{"8.8.8.8:5000"},
			deny:  []string{"192.168.1.5:5000", "127.0.0.1:5000", "198.51.100.4:7880"},
		},
		{
			name:  "no node IP, media bound to the public interface",
			cfg:   func(c *Config) { c.MediaBind = "198.51.100.4" },
			local: append(slices.Clone(lan), netip.MustParseAddr("198.51.100.4")),
			allow: []string{"8.8.8.8:5000", "198.51.100.9:5000"},
			deny:  []string{"192.168.1.5:5000", "127.0.0.1:5000", "198.51.100.4:7882", "192.168.1.10:7882"},
		},
		{
			name:  "remote networks decide",
			cfg:   func(c *Config) { c.NodeIP = "203.0.113.7"; c.RemoteNetworks = []string{"127.0.0.0/8", "10.1.0.0/16"} },
			local: public,
			allow: []string{"127.0.0.5:5000", "10.1.2.3:5000"},
			deny:  []string{"8.8.8.8:5000", "10.2.0.1:5000", "192.168.1.5:5000", "127.0.0.1:7882", "127.0.0.1:7880"},
		},
		{
			name:   "remote networks and the node's TURN relays",
			cfg:    func(c *Config) { c.NodeIP = "203.0.113.7"; c.RemoteNetworks = []string{"10.1.0.0/16"} },
			local:  public,
			relays: []RelayRange{{Addr: netip.MustParseAddr("203.0.113.7"), PortMin: 7000, PortMax: 60000}},
			allow:  []string{"203.0.113.7:50000", "[::ffff:203.0.113.7]:7000", "10.1.2.3:5000"},
			deny:   []string{"203.0.113.7:5000", "203.0.113.7:60001", "203.0.113.7:7882", "203.0.113.7:7880", "203.0.113.8:50000", "8.8.8.8:50000"},
		},
		{
			name:   "a private TURN relay of a public node, on any port",
			cfg:    func(c *Config) { c.NodeIP = "203.0.113.7" },
			local:  public,
			relays: []RelayRange{{Addr: netip.MustParseAddr("10.0.0.5")}},
			allow:  []string{"10.0.0.5:40000", "10.0.0.5:1", "8.8.8.8:5000"},
			deny:   []string{"10.0.0.6:40000", "10.0.0.5:0", "192.168.1.5:5000"},
		},
		{
			name:  "remote networks cannot allow what is not unicast",
			cfg:   func(c *Config) { c.RemoteNetworks = []string{"0.0.0.0/0"} },
			local: public,
			allow: []string{"8.8.8.8:5000", "127.0.0.1:5000", "10.0.0.1:5000"},
			deny:  []string{"0.0.0.0:5000", "224.0.0.1:5000", "255.255.255.255:5000", "127.0.0.1:7882"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			p, err := newCandidatePolicy(cfg, tc.local, []int{http})
			if err != nil {
				t.Fatal(err)
			}
			p.addPort(media)
			for _, r := range tc.relays {
				p.addRelay(r)
			}
			for _, s := range tc.allow {
				ap := netip.MustParseAddrPort(s)
				if err := p.allowAddr(ap); err != nil {
					t.Errorf("%s refused: %v", s, err)
				}
				if !p.keepIP(ap.Addr().AsSlice()) {
					t.Errorf("%s: pion's remote IP filter refuses %s", s, ap.Addr())
				}
			}
			for _, s := range tc.deny {
				err := p.allowAddr(netip.MustParseAddrPort(s))
				if !errors.Is(err, ErrBadCandidate) || !strings.Contains(err.Error(), "not accepted") {
					t.Errorf("%s: got %v, want a refusal", s, err)
				}
			}
		})
	}
}

func TestCandidateConfig(t *testing.T) {
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader("allow_private_candidates: true\nmax_remote_candidates: 8\nremote_networks: [10.0.0.0/8]\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.AllowPrivateCandidates || cfg.MaxRemoteCandidates != 8 || len(cfg.RemoteNetworks) != 1 {
		t.Fatalf("decoded %+v", cfg)
	}
	bad := Default()
	bad.MaxRemoteCandidates = 0
	if err := bad.Validate(); err == nil {
		t.Error("a limit of 0 remote candidates was accepted")
	}
	bad = Default()
	bad.RemoteNetworks = []string{"10.0.0.0"}
	if err := bad.Validate(); err == nil {
		t.Error("a remote network without a prefix length was accepted")
	}
}
