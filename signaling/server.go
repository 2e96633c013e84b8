package signaling

import (
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/sfu"
)

// Server is the WebSocket signaling endpoint. It implements http.Handler;
// mount it at /ws.
type Server struct {
	cfg     Config
	keys    Keys
	backend Backend
	log     *slog.Logger
	now     func() time.Time
	ice     []ICEServer    // the configured ice_servers, for everyone
	iceFor  ICEServersFunc // nil: none of a participant's own
	up      websocket.Upgrader
	origins originPolicy
	policy  TokenPolicy
	revoked Revocations // nil: no revocation
	metrics *Metrics
	chat    ChatLog

	chatMu    sync.Mutex // guards chatRooms; held for no call but ChatLog.Subscribe
	chatRooms map[string]*chatRoom

	mu     sync.Mutex // guards conns, admit and closed
	conns  map[*conn]struct{}
	admit  admission
	closed bool
	wg     sync.WaitGroup // one per connection handler
}

// Option changes how NewServer builds a Server.
type Option func(*Server)

// WithRevocations makes the server refuse tokens r says are revoked, at
// join and on the admin endpoints that call Authenticate.
func WithRevocations(r Revocations) Option { return func(s *Server) { s.revoked = r } }

// NewServer returns a signaling server admitting tokens signed by keys.
func NewServer(cfg Config, keys Keys, backend Backend, log *slog.Logger, opts ...Option) *Server {
	if log == nil {
		log = slog.Default()
	}
	exempt, err := parsePrefixes(cfg.ExemptAddresses)
	if err != nil {
		log.Error("ignoring exempt_addresses", "err", err) // Config.Validate tells earlier
	}
	s := &Server{cfg: cfg, keys: keys, backend: backend, log: log, now: time.Now, metrics: newMetrics(),
		conns: make(map[*conn]struct{}), admit: admission{byAddr: make(map[netip.Prefix]int), exempt: exempt},
		origins: newOriginPolicy(cfg.AllowedOrigins), policy: cfg.TokenPolicy(), chatRooms: make(map[string]*chatRoom)}
	for _, o := range opts {
		o(s)
	}
	if s.chat == nil {
		s.chat = NewMemoryChat()
	}
	if len(cfg.ICEServers) > 0 {
		s.ice = []ICEServer{{URLs: cfg.ICEServers}}
	} else {
		s.ice = []ICEServer{}
	}
	s.up = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     s.checkOrigin,
	}
	return s
}

// checkOrigin applies the origin policy, logging what it refuses: a
// browser refused here sees only a failed WebSocket.
func (s *Server) checkOrigin(r *http.Request) bool {
	if s.origins.allows(r) {
		return true
	}
	s.log.Info("websocket refused: origin not allowed", "origin", truncateUTF8(r.Header.Get("Origin"), 200),
		"host", truncateUTF8(r.Host, 200), "tls", r.TLS != nil, "remote", r.RemoteAddr)
	return false
}

// Metrics returns the server's instruments, to register with a
// prometheus.Registerer.
func (s *Server) Metrics() *Metrics { return s.metrics }

// ServeHTTP upgrades the request and runs the session until it ends. A
// request over a connection cap is answered 503 (all connections) or 429
// (this client address) with a text body, before any upgrade.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := clientAddress(r)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	refused := s.admit.admitLocked(&s.cfg, addr)
	if refused == "" {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if refused != "" {
		s.refuseUpgrade(w, refused)
		return
	}
	s.metrics.Connections.Inc()
	defer func() {
		s.metrics.Connections.Dec()
		s.mu.Lock()
		s.admit.releaseLocked(addr)
		s.mu.Unlock()
		s.wg.Done()
	}()

	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the request
	}
	c := newConn(s, ws)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.closeNow(websocket.CloseGoingAway, "server shutting down")
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()

	c.serve()

	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close tells every client goodbye (bye "shutdown", then close 1001: the
// client reconnects, to another node if this one is going away), refuses
// new connections, and waits for the connections' handlers to return.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.depart(departShutdown)
		if c.joined.Load() != nil {
			c.Send(sfu.Bye{Reason: "shutdown"})
		}
		c.shutdown(websocket.CloseGoingAway, "server shutting down")
	}
	s.wg.Wait()
}

// Move asks every joined client to move to another node (a move
// message, see PROTOCOL.md): the node is going away, and will end the
// sessions still here after left. Clients that move leave on their own;
// Close ends the others.
func (s *Server) Move(left time.Duration) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		if c.joined.Load() != nil {
			c.Send(sfu.Move{TimeLeft: left})
		}
	}
}

// Connections is the number of open WebSocket connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
