package loadtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// NATKind is how a NATLab router maps its clients' flows.
type NATKind int

const (
	// NATMasquerade is nftables masquerade: a flow keeps its source port
	// where it is free, whatever its destination (endpoint-independent
	// mapping), the NAT of most home routers; hole punching works.
	NATMasquerade NATKind = iota
	// NATFullyRandom is masquerade fully-random: every flow gets a random
	// port, so each destination sees another mapping (a symmetric NAT);
	// hole punching fails.
	NATFullyRandom
)

func (k NATKind) String() string {
	if k == NATFullyRandom {
		return "masquerade fully-random"
	}
	return "masquerade"
}

// NATLab is the Internet in miniature, in network namespaces made and
// removed by the lab: a public segment (a bridge in its own namespace)
// where a server namespace sits with one interface, and behind it sites,
// each a NAT router with an address on the segment and a LAN to one
// client namespace:
//
//	server 10.250.0.10 ─┐
//	router 0 10.250.0.1 ┼─ bridge ── (namespace "inet")
//	router 1 10.250.0.2 ┘
//	router i LAN 192.168.(10+i).1/24 ── client i 192.168.(10+i).2, default route via it
//
// A router's forward chain lets in only what its client started, and its
// input chain nothing new from the segment, as a home router's firewall
// does; its NAT is its site's Kind. Nothing is in the root
// namespace: programs run inside with CommandIn and StartSelfIn, and
// tests reach the server through a client namespace. Close deletes the
// namespaces, and with them every veth, bridge and nftables table.
type NATLab struct {
	Inet     string // the namespace of the public segment's bridge
	Server   string // the server's namespace, on the segment
	ServerIP net.IP
	Net      *net.IPNet // the public segment
	Sites    []*NATSite

	closeOnce sync.Once
	closeErr  error
}

// NATSite is a NAT router and the client behind it.
type NATSite struct {
	Router, Client string // namespaces
	Kind           NATKind
	PublicIP       net.IP // the router's address on the public segment
	ClientIP       net.IP // the client's, on the router's LAN

	mu      sync.Mutex // guards the fields below and the router's table
	blocked []net.IP   // UDP to and from these addresses is dropped
	udpIP   net.IP     // UDP leaves from this address instead (Rebind)
	zone    uint16     // UDP's conntrack zone, changed by Rebind
}

// natTable is the nftables table of a NATLab router.
const natTable = "sfunat"

// natSeq tells apart the NATLabs of one process.
var natSeq atomic.Uint32

// The public segment's addresses.
var (
	natServerIP = net.IPv4(10, 250, 0, 10).To4()
	natNet      = &net.IPNet{IP: net.IPv4(10, 250, 0, 0).To4(), Mask: net.CIDRMask(24, 32)}
)

// NewNATLab builds a NATLab with one site per kind, in order. On error,
// which wraps ErrNoLab when this machine cannot build labs, it removes
// what it made.
func NewNATLab(kinds ...NATKind) (*NATLab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if len(kinds) == 0 || len(kinds) > 50 {
		return nil, fmt.Errorf("loadtest: a NAT lab of %d sites", len(kinds))
	}
	base := fmt.Sprintf("sfunat%d-%d", os.Getpid(), natSeq.Add(1))
	l := &NATLab{Inet: base + "-inet", Server: base + "-srv", ServerIP: natServerIP, Net: natNet}
	for i, k := range kinds {
		l.Sites = append(l.Sites, &NATSite{
			Router:   fmt.Sprintf("%s-r%d", base, i),
			Client:   fmt.Sprintf("%s-c%d", base, i),
			Kind:     k,
			PublicIP: net.IPv4(10, 250, 0, byte(1+i)).To4(),
			ClientIP: net.IPv4(192, 168, byte(10+i), 2).To4(),
		})
	}
	if err := l.setUp(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("%w: %w", ErrNoLab, err)
	}
	return l, nil
}

// namespaces are all the lab's, the public segment's first.
func (l *NATLab) namespaces() []string {
	ns := []string{l.Inet, l.Server}
	for _, s := range l.Sites {
		ns = append(ns, s.Router, s.Client)
	}
	return ns
}

func (l *NATLab) setUp() error {
	var steps [][]string
	for _, ns := range l.namespaces() {
		steps = append(steps, []string{"netns", "add", ns}, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"-n", l.Inet, "link", "add", "br0", "type", "bridge"},
		[]string{"-n", l.Inet, "link", "set", "br0", "up"})
	// attach gives ns an interface wan with addr on the segment.
	attach := func(port, ns, addr string) {
		steps = append(steps,
			[]string{"-n", l.Inet, "link", "add", port, "type", "veth", "peer", "name", "wan", "netns", ns},
			[]string{"-n", l.Inet, "link", "set", port, "master", "br0"},
			[]string{"-n", l.Inet, "link", "set", port, "up"},
			[]string{"-n", ns, "addr", "add", addr + "/24", "dev", "wan"},
			[]string{"-n", ns, "link", "set", "wan", "up"})
	}
	attach("srv", l.Server, l.ServerIP.String())
	for i, s := range l.Sites {
		attach(fmt.Sprintf("r%d", i), s.Router, s.PublicIP.String())
		gw := net.IPv4(192, 168, byte(10+i), 1).String()
		steps = append(steps,
			[]string{"-n", s.Router, "link", "add", "lan", "type", "veth", "peer", "name", "lan", "netns", s.Client},
			[]string{"-n", s.Router, "addr", "add", gw + "/24", "dev", "lan"},
			[]string{"-n", s.Router, "link", "set", "lan", "up"},
			[]string{"-n", s.Client, "addr", "add", s.ClientIP.String() + "/24", "dev", "lan"},
			[]string{"-n", s.Client, "link", "set", "lan", "up"},
			[]string{"-n", s.Client, "route", "add", "default", "via", gw})
	}
	for _, args := range steps {
		if err := run("", "ip", args...); err != nil {
			return err
		}
	}
	for _, s := range l.Sites {
		if err := RunToolIn(s.Router, "", "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
			return err
		}
		s.mu.Lock()
		err := s.applyLocked()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// BlockUDP makes the site's router drop UDP to and from addr, both ways
// and in flows already open, as a firewall that refuses another peer.
func (s *NATSite) BlockUDP(addr net.IP) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked = append(s.blocked, addr)
	return s.applyLocked()
}

// RebindUDP moves the router's UDP to a new public address on the
// segment, addr, with new mappings for every flow, as a carrier NAT that
// rebinds: the flows open until now, mapped to the old address, get no
// more answers (their conntrack entries are left in a zone no packet is
// looked up in any more). TCP keeps its address and its connections.
func (s *NATSite) RebindUDP(addr net.IP) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udpIP == nil || !s.udpIP.Equal(addr) {
		if err := run("", "ip", "-n", s.Router, "addr", "add", addr.String()+"/24", "dev", "wan"); err != nil {
			return err
		}
	}
	s.udpIP = addr
	s.zone++
	return s.applyLocked()
}

// applyLocked replaces the router's table with one for the site's
// current settings, in one nft transaction.
func (s *NATSite) applyLocked() error {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {}\ndelete table ip %s\ntable ip %s {\n", natTable, natTable, natTable)
	if s.zone > 0 {
		fmt.Fprintf(&b, "\tchain zone {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tmeta l4proto udp ct zone set %d\n\t}\n", s.zone)
	}
	// Nothing new comes in to the router itself: a packet refused here
	// leaves no conntrack entry, which would clash with a later mapping
	// of the same port (and make masquerade pick another).
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tiifname \"wan\" ct state new drop\n\t}\n")
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n")
	for _, a := range s.blocked {
		fmt.Fprintf(&b, "\t\tip daddr %s meta l4proto udp drop\n\t\tip saddr %s meta l4proto udp drop\n", a, a)
	}
	b.WriteString("\t\tct state established,related accept\n\t\tiifname \"lan\" oifname \"wan\" accept\n\t}\n")
	b.WriteString("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	random := ""
	if s.Kind == NATFullyRandom {
		random = " fully-random"
	}
	if s.udpIP != nil {
		fmt.Fprintf(&b, "\t\toifname \"wan\" meta l4proto udp snat to %s%s\n", s.udpIP, random)
	}
	fmt.Fprintf(&b, "\t\toifname \"wan\" masquerade%s\n\t}\n}\n", random)
	return RunToolIn(s.Router, b.String(), "nft", "-f", "-")
}

// Close deletes the lab's namespaces, and with them everything in them.
// It is safe to call more than once.
func (l *NATLab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		for _, ns := range l.namespaces() {
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
				continue // never made
			}
			if err := run("", "ip", "netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// Leftovers reports the lab's namespaces still there, or nil: after
// Close there should be none.
func (l *NATLab) Leftovers() error {
	var left []string
	for _, ns := range l.namespaces() {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			left = append(left, ns)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("loadtest: NAT lab left namespaces %s", strings.Join(left, ", "))
	}
	return nil
}
