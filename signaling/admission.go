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
	exempt []netip.Prefix // addresses without the per-address cap
}

// clientAddress is the address a connection comes from: the socket's
// remote address, never a forwarded header, which any client can write.
// It is the zero Addr when RemoteAddr holds no IP (a test's fake address).
func clientAddress(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap().WithZone("")
}

// addressKey is what a connection from ip counts against: the IPv4
// address, or the IPv6 /64 around it, since one IPv6 host usually holds a
// whole /64. Addresses that are not IPs share one key.
func addressKey(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	bits := 64
	if ip.Is4() {
		bits = 32
	}
	p, _ := ip.Prefix(bits)
	return p
}

// admitLocked takes a slot for ip, or says which cap is reached.
func (a *admission) admitLocked(cfg *Config, ip netip.Addr) (refused string) {
	key := addressKey(ip)
	if cfg.MaxConnections > 0 && a.total >= cfg.MaxConnections {
		return refusedServerFull
	}
	if cfg.MaxConnectionsPerAddress > 0 && a.byAddr[key] >= cfg.MaxConnectionsPerAddress && !a.exempted(ip) {
		return refusedAddressFull
	}
	a.total++
	a.byAddr[key]++
	return ""
}

func (a *admission) exempted(ip netip.Addr) bool {
	for _, p := range a.exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// releaseLocked gives back the slot admitLocked took.
func (a *admission) releaseLocked(ip netip.Addr) {
	key := addressKey(ip)
	a.total--
	if n := a.byAddr[key] - 1; n > 0 {
		a.byAddr[key] = n
	} else {
		delete(a.byAddr, key)
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
