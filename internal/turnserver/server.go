package turnserver

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// closeTimeout bounds how long Close waits for pion's goroutines.
const closeTimeout = 5 * time.Second

// Options are what the node tells the server besides its configuration.
type Options struct {
	// Logger receives the server's messages; refusals at debug level.
	Logger *slog.Logger
	// AllowedPeers are transport addresses relayed to whatever their
	// class (the SFU's media address), besides Config.AllowedPeers.
	AllowedPeers []netip.AddrPort
	// OwnPorts are this host's other service ports (HTTP, media,
	// metrics), never relayed to on its addresses. The server's own
	// listening ports are added to them.
	OwnPorts []int
	// LocalAddrs are this host's addresses; nil: its interfaces'.
	LocalAddrs []netip.Addr
	// Now is the clock credentials and bandwidth caps are checked
	// against; nil: time.Now.
	Now func() time.Time
}

// Server is a running STUN/TURN server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	secret   string
	host     string
	peers    *peerPolicy
	quotas   *quotas
	refusals *refusals
	activity *activity
	conns    *connCaps
	metrics  *Metrics

	pion             *turn.Server
	udp              *udpConn  // nil: no UDP
	tcpLn, tlsLn     *listener // nil: not listening
	closeOnce        sync.Once
	closeErr         error
	udpPort          int // the ports listened on; 0: that transport is off
	tcpPort, tlsPort int
}

// New starts a server as cfg says. cfg.PublicIP must be set. On error
// nothing stays open.
func New(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	public, err := netip.ParseAddr(cfg.PublicIP)
	if err != nil {
		return nil, fmt.Errorf("turn: public_ip (or sfu.node_ip) must name the address peers reach relays at")
	}
	public = public.Unmap()
	local := opts.LocalAddrs
	if local == nil {
		local = interfaceAddrs()
	}
	bind := bindAddr(cfg.ListenIP, public, local)
	if bind.Is6() != public.Is6() {
		return nil, fmt.Errorf("turn: listen_ip %s and public_ip %s are of different families", bind, public)
	}
	s := &Server{cfg: cfg, log: opts.Logger, now: opts.Now, secret: cfg.Secret, host: cfg.Host, activity: newActivity()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.secret == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		s.secret = base64.RawStdEncoding.EncodeToString(b)
	}
	if s.host == "" {
		s.host = public.String()
	}
	s.refusals = newRefusals(s.log)
	s.quotas = newQuotas(cfg)
	s.conns = &connCaps{max: cfg.MaxConnections, perAddr: cfg.MaxConnectionsPerAddress, byAddr: make(map[netip.Addr]int)}
	s.metrics = newMetrics(s)
	if s.peers, err = newPeerPolicy(cfg, opts.AllowedPeers, opts.OwnPorts, append(local, public, bind)); err != nil {
		return nil, err
	}
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.listen(bind, tlsConfig); err != nil {
		s.closeSockets()
		return nil, err
	}
	for _, p := range []int{s.udpPort, s.tcpPort, s.tlsPort} {
		s.peers.addPort(p)
	}
	gen := &relayGen{s: s, bind: bind, public: public, min: cfg.RelayPortMin, max: cfg.RelayPortMax}
	sc := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.allowAllocation,
		EventHandler:  turn.EventHandler{OnAuth: s.onAuth},
		LoggerFactory: pionLogs{s.log},
	}
	if s.udp != nil {
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: s.udp, RelayAddressGenerator: gen, PermissionHandler: s.permit})
	}
	for _, l := range []*listener{s.tcpLn, s.tlsLn} {
		if l != nil {
			sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: l, RelayAddressGenerator: gen, PermissionHandler: s.permit})
		}
	}
	if s.pion, err = turn.NewServer(sc); err != nil {
		s.closeSockets()
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.log.Info("turn server started", "udp", s.udpPort, "tcp", s.tcpPort, "tls", s.tlsPort, "public_ip", public.String(),
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax))
	return s, nil
}

// newPeerPolicy is the policy for cfg, with the exact peers and the
// service ports given, on a host with the addresses self.
func newPeerPolicy(cfg Config, peers []netip.AddrPort, ports []int, self []netip.Addr) (*peerPolicy, error) {
	nets, exact, err := parsePeers(cfg.AllowedPeers)
	if err != nil {
		return nil, err
	}
	p := &peerPolicy{nets: nets, exact: exact}
	for _, ap := range peers {
		p.exact = append(p.exact, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	for _, a := range self {
		p.addSelf(a)
	}
	for _, port := range ports {
		p.addPort(port)
	}
	return p, nil
}

// bindAddr is the address the sockets bind to: listen_ip if set, else
// the public address when it is this host's (so that answers leave from
// the address clients sent to, whichever interface the route back takes),
// else every address.
func bindAddr(listenIP string, public netip.Addr, local []netip.Addr) netip.Addr {
	if listenIP != "" {
		return netip.MustParseAddr(listenIP).Unmap()
	}
	if public.IsLoopback() || slices.Contains(local, public) {
		return public
	}
	if public.Is6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// loadTLS returns the TLS configuration, or nil when there is no
// certificate.
func loadTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSPort < 0 || cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("turn: tls certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// listen opens the listening sockets.
func (s *Server) listen(bind netip.Addr, tlsConfig *tls.Config) error {
	udpNet, tcpNet := "udp4", "tcp4"
	if bind.Is6() {
		udpNet, tcpNet = "udp6", "tcp6"
	}
	if s.cfg.UDPPort >= 0 {
		pc, err := net.ListenUDP(udpNet, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(s.cfg.UDPPort))))
		if err != nil {
			return fmt.Errorf("turn: listen udp: %w", err)
		}
		s.udp = &udpConn{UDPConn: pc, activity: s.activity}
		s.activity.addLoop(1)
		s.udpPort = pc.LocalAddr().(*net.UDPAddr).Port
	}
	open := func(port int, tlsConfig *tls.Config) (*listener, int, error) {
		ln, err := net.ListenTCP(tcpNet, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(port))))
		if err != nil {
			return nil, 0, fmt.Errorf("turn: listen tcp: %w", err)
		}
		return newListener(ln, tlsConfig, s), ln.Addr().(*net.TCPAddr).Port, nil
	}
	var err error
	if s.cfg.TCPPort >= 0 {
		if s.tcpLn, s.tcpPort, err = open(s.cfg.TCPPort, nil); err != nil {
			return err
		}
	}
	if tlsConfig != nil {
		if s.tlsLn, s.tlsPort, err = open(s.cfg.TLSPort, tlsConfig); err != nil {
			return err
		}
	} else if s.cfg.TLSPort >= 0 {
		s.log.Info("turn: no certificate (turn.tls_cert or tls_cert), so no TLS listener")
	}
	if s.udp == nil && s.tcpLn == nil && s.tlsLn == nil {
		return fmt.Errorf("turn: udp_port, tcp_port and tls_port are all off")
	}
	return nil
}

// closeSockets closes what listen opened, for a New that fails.
func (s *Server) closeSockets() {
	if s.udp != nil {
		_ = s.udp.Close()
	}
	for _, l := range []*listener{s.tcpLn, s.tlsLn} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// authenticate is pion's AuthHandler: it checks a TURN REST username and
// returns the key its password makes. The expiry applies to new
// allocations only: an allocation made in time may be refreshed, and
// given permissions and channels, after it (the key must still match).
func (s *Server) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	expiry, identity, err := ParseUsername(ra.Username)
	if err != nil {
		s.refusals.note(reasonBadUsername, ipOf(ra.SrcAddr), "client", addrString(ra.SrcAddr), "username", truncate(ra.Username, 100))
		return "", nil, false
	}
	if ra.Method == stun.MethodAllocate && !s.now().Before(expiry) {
		s.refusals.note(reasonExpired, ra.Username, "client", addrString(ra.SrcAddr), "username", truncate(ra.Username, 100), "expired", expiry.UTC())
		return "", nil, false
	}
	return identity, turn.GenerateAuthKey(ra.Username, s.cfg.Realm, password(s.secret, ra.Username)), true
}

// onAuth logs requests whose message integrity did not match the key:
// a forged or mistyped password, or another realm.
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	if !verdict {
		s.refusals.note(reasonBadCredential, ipOf(src)+" "+username, "client", addrString(src), "username", truncate(username, 100), "method", method)
	}
}

// allowAllocation is pion's QuotaHandler.
func (s *Server) allowAllocation(identity, _ string, src net.Addr) bool {
	if s.quotas.full(identity) {
		s.refusals.note(reasonQuota, identity, "user", identity, "client", addrString(src))
		return false
	}
	return true
}

// permit is pion's PermissionHandler, for CreatePermission and
// ChannelBind: the peer policy by IP address.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	a, ok := netip.AddrFromSlice(peer)
	r := reasonPeerUnusable
	if ok {
		r = s.peers.allowIP(a)
	}
	if r != reasonNone {
		s.refusals.note(r, ipOf(client)+" "+a.String(), "client", addrString(client), "peer", a.String())
		return false
	}
	return true
}

// Close stops the server: it closes the listeners, every connection and
// every allocation, and waits (a few seconds at most) for pion's
// goroutines to end.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.pion.Close()
		s.closeErr = errors.Join(err, s.activity.wait(closeTimeout))
	})
	return s.closeErr
}

// Allocations is the number of allocations held.
func (s *Server) Allocations() int { return s.activity.Relays() }

// Refusals is how many refusals of the named reason there were (the
// reason labels of sfu_turn_refusals_total).
func (s *Server) Refusals(reason string) uint64 { return s.refusals.Count(reason) }

// Secret is the shared secret credentials are made with.
func (s *Server) Secret() string { return s.secret }

// Realm is the server's realm.
func (s *Server) Realm() string { return s.cfg.Realm }

// UDPAddr, TCPAddr and TLSAddr are the addresses listened on; nil for a
// transport that is off.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr is the address of the TCP listener, or nil.
func (s *Server) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// TLSAddr is the address of the TLS listener, or nil.
func (s *Server) TLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// URLs are the server's STUN URL and TURN URLs, as clients are given
// them: stun: over UDP, turn: over UDP and TCP, turns: over TLS, for the
// transports that run.
func (s *Server) URLs() (stunURLs, turnURLs []string) {
	hostPort := func(port int) string { return net.JoinHostPort(s.host, strconv.Itoa(port)) }
	if s.udpPort != 0 {
		stunURLs = append(stunURLs, "stun:"+hostPort(s.udpPort))
		turnURLs = append(turnURLs, "turn:"+hostPort(s.udpPort)+"?transport=udp")
	}
	if s.tcpPort != 0 {
		turnURLs = append(turnURLs, "turn:"+hostPort(s.tcpPort)+"?transport=tcp")
	}
	if s.tlsPort != 0 {
		turnURLs = append(turnURLs, "turns:"+hostPort(s.tlsPort)+"?transport=tcp")
	}
	return stunURLs, turnURLs
}

// udpConn is the UDP listening socket, which tells when pion's read loop
// on it has ended.
type udpConn struct {
	*net.UDPConn
	activity *activity
	ended    sync.Once
}

// ReadFrom reads for pion's read loop, which ends at its first error.
func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(b)
	if err != nil {
		c.ended.Do(func() { c.activity.addLoop(-1) })
	}
	return n, addr, err
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

// ipOf is the IP address of a (for keys of refusals logged once).
func ipOf(a net.Addr) string {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP.String()
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	return a.String()
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// truncate shortens s to at most n bytes, for logs of client input.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
