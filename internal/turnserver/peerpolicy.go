package turnserver

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/sfu-project/sfu/internal/addrclass"
)

// peerPolicy decides which addresses the server relays to. A TURN client
// names its peers; without a policy it could use the server to reach this
// host's own services and the networks behind it.
//
// Permissions (CreatePermission, ChannelBind) are granted per IP address
// (allowIP); every datagram is then checked with its port (allowAddr),
// which is where this host's own ports and the exact allowed peers are
// told apart. The relay ports are not refused: two clients relayed by the
// same server reach each other through them.
//
// It is read-only once the server runs.
type peerPolicy struct {
	// nets are allowed whatever their class (allowed_peers CIDRs).
	nets []netip.Prefix
	// exact are transport addresses allowed whatever their class, and
	// only with their port (the SFU's media address).
	exact []netip.AddrPort
	// self are this host's addresses; any loopback address is too.
	self []netip.Addr
	// ports are this host's service ports, refused on its addresses.
	ports []uint16
}

// parsePeers splits allowed_peers into CIDRs and transport addresses.
func parsePeers(peers []string) (nets []netip.Prefix, exact []netip.AddrPort, err error) {
	for _, s := range peers {
		if p, err := netip.ParsePrefix(s); err == nil {
			nets = append(nets, p.Masked())
			continue
		}
		if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
			exact = append(exact, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
			continue
		}
		return nil, nil, fmt.Errorf("turn.allowed_peers: %q is not a CIDR or an address:port", s)
	}
	return nets, exact, nil
}

// allowIP returns reasonNone if permissions to a may be granted: a is in
// an allowed network, is the address of an exact allowed peer, or is
// public.
func (p *peerPolicy) allowIP(a netip.Addr) reason {
	a = a.Unmap()
	if p.inNets(a) || slices.ContainsFunc(p.exact, func(e netip.AddrPort) bool { return e.Addr() == a }) {
		return reasonNone
	}
	return classReason(addrclass.Classify(a))
}

// allowAddr returns reasonNone if a datagram may be relayed to ap. It
// does not allocate: it runs for every datagram a client sends.
func (p *peerPolicy) allowAddr(ap netip.AddrPort) reason {
	a, port := ap.Addr().Unmap(), ap.Port()
	if port == 0 {
		return reasonPeerUnusable
	}
	for _, e := range p.exact {
		if e.Addr() == a && e.Port() == port {
			return reasonNone
		}
	}
	if slices.Contains(p.ports, port) && (a.IsLoopback() || slices.Contains(p.self, a)) {
		return reasonPeerOwnPort
	}
	if p.inNets(a) {
		return reasonNone
	}
	return classReason(addrclass.Classify(a))
}

func (p *peerPolicy) inNets(a netip.Addr) bool {
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// addPort adds one of this host's service ports.
func (p *peerPolicy) addPort(port int) {
	if port > 0 && port <= 65535 && !slices.Contains(p.ports, uint16(port)) {
		p.ports = append(p.ports, uint16(port))
	}
}

// addSelf adds one of this host's addresses.
func (p *peerPolicy) addSelf(a netip.Addr) {
	if a = a.Unmap(); a.IsValid() && !a.IsUnspecified() && !slices.Contains(p.self, a) {
		p.self = append(p.self, a)
	}
}

// classReason is the refusal for an address of class c not otherwise
// allowed.
func classReason(c addrclass.Class) reason {
	switch c {
	case addrclass.Public:
		return reasonNone
	case addrclass.Private:
		return reasonPeerPrivate
	case addrclass.Loopback:
		return reasonPeerLoopback
	case addrclass.LinkLocal:
		return reasonPeerLinkLocal
	default:
		return reasonPeerUnusable
	}
}
