package turnserver

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/turn/v5"
)

// relayTries is how many random ports of the relay range are tried for
// one allocation before it is refused.
const relayTries = 64

// relayGen opens the relay sockets of allocations (pion's
// RelayAddressGenerator): UDP only, in the relay port range, counted
// against the identity's quota, and wrapped in a relayConn that enforces
// the peer policy and the bandwidth cap.
type relayGen struct {
	s        *Server
	bind     netip.Addr // unspecified: every address of the family
	public   netip.Addr
	min, max int // 0, 0: the system chooses
}

// Validate implements turn.RelayAddressGenerator.
func (g *relayGen) Validate() error { return nil }

// AllocatePacketConn implements turn.RelayAddressGenerator. A config
// without a UserID is pion probing for an even port: it is not counted.
func (g *relayGen) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if (c.Network == "udp6") != g.public.Is6() || (c.Network != "udp4" && c.Network != "udp6") {
		g.s.refusals.note(reasonFamily, c.UserID+" "+c.Network, "user", c.UserID, "network", c.Network)
		return nil, nil, ErrFamily
	}
	var u *usage
	if c.UserID != "" {
		var err error
		if u, err = g.s.quotas.acquire(c.UserID); err != nil {
			g.s.refusals.note(reasonQuota, c.UserID, "user", c.UserID)
			return nil, nil, err
		}
	}
	conn, err := g.listen(c.Network, c.RequestedPort)
	if err != nil {
		g.s.quotas.release(u)
		g.s.refusals.note(reasonNoRelayPort, "", "user", c.UserID, "err", err)
		return nil, nil, err
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	g.s.activity.addRelay(1)
	rc := &relayConn{UDPConn: conn, s: g.s, user: u}
	return rc, &net.UDPAddr{IP: g.public.AsSlice(), Port: port}, nil
}

// listen opens a UDP socket on a free port of the range, the requested
// one if it is in the range.
func (g *relayGen) listen(network string, requested int) (*net.UDPConn, error) {
	addr := func(port int) *net.UDPAddr {
		a := &net.UDPAddr{Port: port}
		if !g.bind.IsUnspecified() {
			a.IP = g.bind.AsSlice()
		}
		return a
	}
	if g.min == 0 && g.max == 0 {
		return net.ListenUDP(network, addr(requested))
	}
	if requested != 0 {
		if requested < g.min || requested > g.max {
			return nil, ErrNoRelayPort
		}
		return net.ListenUDP(network, addr(requested))
	}
	for range relayTries {
		if conn, err := net.ListenUDP(network, addr(g.min+rand.IntN(g.max-g.min+1))); err == nil {
			return conn, nil
		}
	}
	return nil, ErrNoRelayPort
}

// AllocateListener implements turn.RelayAddressGenerator: TCP
// allocations are refused (pion answers 508).
func (g *relayGen) AllocateListener(c turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	g.s.refusals.note(reasonTCPRelay, c.UserID, "user", c.UserID)
	return nil, nil, ErrTCPRelay
}

// AllocateConn implements turn.RelayAddressGenerator; it is never reached
// without a TCP allocation.
func (g *relayGen) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, ErrTCPRelay
}

// relayConn is an allocation's relay socket. What a client sends goes
// out through WriteTo, checked against the peer policy and the
// identity's bandwidth; what peers send comes in through ReadFrom,
// counted against the bandwidth too. Datagrams refused are dropped
// silently, as a network would: the client learns of it as loss, and
// pion does no error work per datagram.
type relayConn struct {
	*net.UDPConn
	s    *Server
	user *usage // nil: not counted (pion's even-port probe)

	closeOnce  sync.Once
	readerOnce sync.Once     // the read loop has been counted
	readerDone sync.Once     // ... and has ended
	logged     atomic.Uint32 // bit r set: reason r has been logged for this allocation
}

// WriteTo sends p to a peer, unless the policy or the bandwidth cap
// refuses it. It does not allocate.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, ErrForbiddenPeer
	}
	ap := ua.AddrPort()
	if r := c.s.peers.allowAddr(ap); r != reasonNone {
		c.refuse(r, ap)
		return len(p), nil
	}
	if !c.user.allow(len(p), c.s.now()) {
		c.refuse(reasonBitrate, ap)
		return len(p), nil
	}
	return c.UDPConn.WriteTo(p, addr)
}

// ReadFrom returns the next datagram from a peer that fits the
// bandwidth cap; pion's allocation read loop calls it until it fails.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.readerOnce.Do(func() { c.s.activity.addReader(1) })
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil {
			c.readerDone.Do(func() { c.s.activity.addReader(-1) })
			return n, addr, err
		}
		if c.user.allow(n, c.s.now()) {
			return n, addr, nil
		}
		var ap netip.AddrPort
		if ua, ok := addr.(*net.UDPAddr); ok {
			ap = ua.AddrPort()
		}
		c.refuse(reasonBitrate, ap)
	}
}

// refuse counts a refused datagram and logs the first of each reason for
// this allocation.
func (c *relayConn) refuse(r reason, peer netip.AddrPort) {
	c.s.refusals.count(r)
	bit := uint32(1) << r
	if old := c.logged.Load(); old&bit == 0 && c.logged.CompareAndSwap(old, old|bit) {
		user := ""
		if c.user != nil {
			user = c.user.identity
		}
		c.s.log.Debug("turn: refused", "reason", r.String(), "user", user, "relay", c.LocalAddr().String(), "peer", peer.String())
	}
}

// Close closes the socket and ends the allocation's share of its
// identity's quota, once.
func (c *relayConn) Close() error {
	err := c.UDPConn.Close()
	c.closeOnce.Do(func() {
		c.s.quotas.release(c.user)
		c.s.activity.addRelay(-1)
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
