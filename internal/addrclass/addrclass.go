// Package addrclass tells what kind of address an IP address is (public,
// private, loopback, link-local, or one that cannot name a single peer),
// for the code that decides where the server may send packets: the
// media core's ICE candidate policy and the TURN server's peer policy.
// It is a leaf: it imports only the standard library.
package addrclass

import "net/netip"

// Class is the kind of an address, as far as sending it packets goes.
type Class uint8

const (
	// Public is a global unicast address.
	Public Class = iota
	// Private is RFC 1918, the RFC 6598 shared space of carrier-grade NAT
	// (100.64.0.0/10) and RFC 4193 unique local IPv6 (fc00::/7).
	Private
	// Loopback is 127.0.0.0/8 and ::1.
	Loopback
	// LinkLocal is 169.254.0.0/16 and fe80::/10.
	LinkLocal
	// Unusable cannot name one peer: unspecified (which reaches this
	// host), "this network", multicast, reserved and broadcast.
	Unusable
	// Count is the number of classes, for arrays indexed by Class.
	Count
)

// String is the class's name, as the server's messages give it.
func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case Private:
		return "private"
	case Loopback:
		return "loopback"
	case LinkLocal:
		return "link-local"
	default:
		return "non-unicast"
	}
}

var (
	privatePrefixes = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("fc00::/7"),
	}
	unusablePrefixes = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),   // "this network" (RFC 791); 0.0.0.0 reaches this host
		netip.MustParsePrefix("224.0.0.0/4"), // multicast
		netip.MustParsePrefix("240.0.0.0/4"), // reserved, and 255.255.255.255 broadcast
		netip.MustParsePrefix("ff00::/8"),    // multicast
		netip.MustParsePrefix("::/96"),       // unspecified and the deprecated IPv4-compatible addresses
	}
	// nat64 is the well-known NAT64 prefix (RFC 6052): a translator sends
	// what is addressed to it on to the IPv4 address in its last 32 bits.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// Classify tells what kind of address a is. IPv4-mapped IPv6 addresses,
// which pion uses as IPv4, are classified as the IPv4 address, and NAT64
// addresses as the IPv4 address they translate to. It does not allocate.
func Classify(a netip.Addr) Class {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return Unusable
	case a.IsLoopback():
		return Loopback
	case a.IsLinkLocalUnicast():
		return LinkLocal
	case nat64.Contains(a):
		b := a.As16()
		return Classify(netip.AddrFrom4([4]byte(b[12:])))
	}
	for _, p := range unusablePrefixes {
		if p.Contains(a) {
			return Unusable
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(a) {
			return Private
		}
	}
	return Public
}
