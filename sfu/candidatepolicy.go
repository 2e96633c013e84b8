package sfu

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/sfu-project/sfu/internal/addrclass"
)

// addrClass is the kind of address a remote ICE candidate names, as far
// as sending it connectivity checks goes (package addrclass).
type addrClass = addrclass.Class

const (
	classPublic    = addrclass.Public
	classPrivate   = addrclass.Private
	classLoopback  = addrclass.Loopback
	classLinkLocal = addrclass.LinkLocal
	classUnusable  = addrclass.Unusable
	classCount     = addrclass.Count
)

// classify tells what kind of address a is (addrclass.Classify).
func classify(a netip.Addr) addrClass { return addrclass.Classify(a) }

// candidatePolicy decides which addresses the server may send ICE
// connectivity checks to. A client chooses its candidates; without a
// policy it could make the server send STUN requests to any address,
// this host's own services and internal networks included.
//
// It is read-only once the SFU is running.
type candidatePolicy struct {
	// networks, when not empty, are the only ones allowed (remote_networks).
	networks []netip.Prefix
	// allowed are the classes allowed when networks is empty: public, and
	// the classes of the addresses the server advertises itself.
	allowed [classCount]bool
	// self are this node's addresses; any loopback address is too.
	self []netip.Addr
	// ports are this node's own ports (media, HTTP), which a candidate on
	// one of its addresses must not name.
	ports []uint16
	// relays are where this node's own TURN server relays from, allowed
	// whatever networks and allowed say (Options.Relays).
	relays []RelayRange
}

// RelayRange is where a TURN server of this node relays from: the
// relayed address it gives clients and the range of its relay ports
// (PortMin and PortMax 0: any port).
type RelayRange struct {
	Addr             netip.Addr
	PortMin, PortMax uint16
}

// contains reports whether ap is one of r's relayed addresses.
func (r RelayRange) contains(ap netip.AddrPort) bool {
	if ap.Addr().Unmap() != r.Addr.Unmap() {
		return false
	}
	return r.PortMin == 0 && r.PortMax == 0 || ap.Port() >= r.PortMin && ap.Port() <= r.PortMax
}

// newCandidatePolicy makes the policy for cfg on a host with the local
// interface addresses given, listening on ports besides its media port.
func newCandidatePolicy(cfg Config, local []netip.Addr, ports []int) (*candidatePolicy, error) {
	nets, err := cfg.remotePrefixes()
	if err != nil {
		return nil, err
	}
	p := &candidatePolicy{networks: nets}
	p.allowed[classPublic] = true
	p.allowed[classPrivate] = cfg.AllowPrivateCandidates
	var advertised []netip.Addr
	if node, err := netip.ParseAddr(cfg.NodeIP); err == nil {
		advertised = []netip.Addr{node.Unmap()}
		p.self = append(p.self, node.Unmap())
	} else if bind, ok := netip.AddrFromSlice(cfg.mediaBindIP(local)); ok {
		// pion gathers a host candidate on the bound address only.
		advertised = []netip.Addr{bind.Unmap()}
	} else {
		// pion gathers host candidates on every interface but loopback,
		// IPv4 only (see newWebRTCAPI).
		for _, a := range local {
			if a = a.Unmap(); a.Is4() && !a.IsLoopback() {
				advertised = append(advertised, a)
			}
		}
	}
	for _, a := range advertised {
		if c := classify(a); c != classUnusable {
			p.allowed[c] = true
		}
	}
	for _, a := range local {
		p.self = append(p.self, a.Unmap())
	}
	for _, port := range ports {
		p.addPort(port)
	}
	return p, nil
}

// addPort adds one of this node's ports; only before the SFU runs.
func (p *candidatePolicy) addPort(port int) {
	if port > 0 && port <= 65535 && !slices.Contains(p.ports, uint16(port)) {
		p.ports = append(p.ports, uint16(port))
	}
}

// addRelay adds where this node's own TURN server relays from; only
// before the SFU runs.
func (p *candidatePolicy) addRelay(r RelayRange) {
	if r.Addr.IsValid() {
		r.Addr = r.Addr.Unmap()
		p.relays = append(p.relays, r)
	}
}

// allowIP returns nil if a may be sent connectivity checks, or an error
// saying why not.
func (p *candidatePolicy) allowIP(a netip.Addr) error {
	a = a.Unmap()
	c := classify(a)
	if c == classUnusable {
		return fmt.Errorf("%w: %s is a %s address, not accepted", ErrBadCandidate, a, c)
	}
	if slices.ContainsFunc(p.relays, func(r RelayRange) bool { return r.Addr == a }) {
		return nil
	}
	return p.allowNetwork(a, c)
}

// allowNetwork is allowIP for a usable address of class c that is not a
// relay's: remote_networks, or the classes allowed, decide.
func (p *candidatePolicy) allowNetwork(a netip.Addr, c addrClass) error {
	if len(p.networks) > 0 {
		for _, n := range p.networks {
			if n.Contains(a) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s is outside the remote networks, not accepted by this server", ErrBadCandidate, a)
	}
	if !p.allowed[c] {
		return fmt.Errorf("%w: %s is a %s address, not accepted by this server", ErrBadCandidate, a, c)
	}
	return nil
}

// allowAddr is allowIP for a transport address, which must not be one of
// this node's own; on a relay's address, only its relay ports are let
// past remote_networks and the classes.
func (p *candidatePolicy) allowAddr(ap netip.AddrPort) error {
	a := ap.Addr().Unmap()
	ap = netip.AddrPortFrom(a, ap.Port())
	c := classify(a)
	if c == classUnusable {
		return fmt.Errorf("%w: %s is a %s address, not accepted", ErrBadCandidate, a, c)
	}
	if !slices.ContainsFunc(p.relays, func(r RelayRange) bool { return r.contains(ap) }) {
		if err := p.allowNetwork(a, c); err != nil {
			return err
		}
	}
	if ap.Port() == 0 {
		return fmt.Errorf("%w: port 0, not accepted", ErrBadCandidate)
	}
	if slices.Contains(p.ports, ap.Port()) && (a.IsLoopback() || slices.Contains(p.self, a)) {
		return fmt.Errorf("%w: %s is this server's own, not accepted", ErrBadCandidate, netip.AddrPortFrom(a, ap.Port()))
	}
	return nil
}

// keepIP is allowIP as pion's remote IP filter, which also sees the
// addresses of peer-reflexive candidates (a relay's address on any port:
// the filter sees no port).
func (p *candidatePolicy) keepIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && p.allowIP(a) == nil
}

// interfaceAddrs are the addresses of this host's interfaces.
func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
