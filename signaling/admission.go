package signaling

import (
	"net"
	"net/http"
	"net/netip"
)

// admission counts the WebSocket connections held, in total and per
// client address, against Config.MaxConnections and
// Config.MaxConnectionsPerAddress. It is guarded by Server.mu.
type admission struct {
	total  int
	byAddr map[netip.Prefix]int
}

// clientAddress is the address a connection counts against: the socket's
// remote address (never a forwarded header, which any client can write),
// as one IPv4 address or the IPv6 /64 around it, since one IPv6 client
// usually holds a whole /64.
func clientAddress(r *http.Request) netip.Prefix {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{} // not an IP (a test's fake address): one shared bucket
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p
}

// admitLocked takes a slot for addr, or says which cap is reached.
func (a *admission) admitLocked(cfg *Config, addr netip.Prefix) (refused string) {
	if cfg.MaxConnections > 0 && a.total >= cfg.MaxConnections {
		return refusedServerFull
	}
	if cfg.MaxConnectionsPerAddress > 0 && a.byAddr[addr] >= cfg.MaxConnectionsPerAddress {
		return refusedAddressFull
	}
	a.total++
	a.byAddr[addr]++
	return ""
}

// releaseLocked gives back the slot admitLocked took.
func (a *admission) releaseLocked(addr netip.Prefix) {
	a.total--
	if n := a.byAddr[addr] - 1; n > 0 {
		a.byAddr[addr] = n
	} else {
		delete(a.byAddr, addr)
	}
}

// refuseUpgrade answers a request over a cap, before any upgrade, and
// closes its HTTP connection: it is not worth keeping for another try.
func (s *Server) refuseUpgrade(w http.ResponseWriter, reason string) {
	s.metrics.Refused.WithLabelValues(reason).Inc()
	w.Header().Set("Connection", "close")
	if reason == refusedServerFull {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "signaling: the server has too many connections; try again later", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "signaling: too many connections from your address", http.StatusTooManyRequests)
}
