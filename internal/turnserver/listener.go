package turnserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// listener is a TCP or TLS listener as pion's server accepts from. It
// does what pion does not: it caps connections (connCaps), completes TLS handshakes on goroutines of its own within
// HandshakeTimeout (pion would wait 10 s on its own goroutine and leave
// the connection open when one fails), bounds silence and writes on every
// connection (trackedConn), and on Close closes the connections it handed
// out, which pion leaves open.
type listener struct {
	inner net.Listener
	tls   *tls.Config // nil: plain TCP
	s     *Server

	ready chan net.Conn // connections for pion's Accept
	done  chan struct{} // closed by Close
	once  sync.Once
	ended sync.Once      // pion's accept loop has been told the listener is closed
	wg    sync.WaitGroup // the accept loop and handshakes

	mu   sync.Mutex // guards live
	live map[*trackedConn]struct{}
}

func newListener(inner net.Listener, tlsConfig *tls.Config, s *Server) *listener {
	l := &listener{inner: inner, tls: tlsConfig, s: s, ready: make(chan net.Conn), done: make(chan struct{}),
		live: make(map[*trackedConn]struct{})}
	s.activity.addLoop(1) // pion's accept loop, ended by Accept's error
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// Accept implements net.Listener for pion: the next connection that was
// admitted (and for TLS, completed its handshake).
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		l.ended.Do(func() { l.s.activity.addLoop(-1) })
		return nil, ErrClosed
	}
}

// Addr implements net.Listener.
func (l *listener) Addr() net.Addr { return l.inner.Addr() }

// Close stops accepting, closes every connection, and waits for the
// listener's own goroutines. pion's goroutines end once their
// connections are closed.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
		l.mu.Lock()
		conns := make([]*trackedConn, 0, len(l.live))
		for c := range l.live {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			_ = c.Conn.Close() // the goroutine reading it closes the trackedConn
		}
		l.wg.Wait()
	})
	return err
}

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		conn, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			// Out of file descriptors or the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.s.log.Warn("turn: accept failed", "addr", l.inner.Addr().String(), "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		tc := l.admit(conn)
		if tc == nil {
			continue
		}
		if l.tls == nil {
			l.deliver(tc)
			continue
		}
		l.wg.Add(1)
		go l.handshake(tc)
	}
}

// admit wraps conn if the caps allow it, or closes it.
func (l *listener) admit(conn net.Conn) *trackedConn {
	var addr netip.Addr
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		addr = ta.AddrPort().Addr().Unmap()
	}
	if r := l.s.conns.admit(addr); r != reasonNone {
		l.s.refusals.note(r, addr.String(), "client", addr.String(), "listener", l.inner.Addr().String())
		_ = conn.Close()
		return nil
	}
	cfg := &l.s.cfg
	tc := &trackedConn{Conn: conn, l: l, addr: addr, idle: cfg.IdleTimeout, short: cfg.HandshakeTimeout, handshaking: l.tls != nil}
	l.mu.Lock()
	l.live[tc] = struct{}{}
	l.mu.Unlock()
	l.s.activity.addConn(1)
	_ = conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	return tc
}

// handshake completes tc's TLS handshake and hands the connection on, or
// closes it.
func (l *listener) handshake(tc *trackedConn) {
	defer l.wg.Done()
	conn := tls.Server(tc, l.tls)
	ctx, cancel := context.WithTimeout(context.Background(), l.s.cfg.HandshakeTimeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.s.log.Debug("turn: TLS handshake failed", "client", tc.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	// The first message must follow as soon as a plain connection's would.
	tc.handshaking = false
	_ = tc.Conn.SetReadDeadline(time.Now().Add(l.s.cfg.HandshakeTimeout))
	l.deliver(conn)
}

// deliver hands c to pion's Accept, or closes it if the listener closes
// first.
func (l *listener) deliver(c net.Conn) {
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// forget removes a closed connection.
func (l *listener) forget(tc *trackedConn) {
	l.mu.Lock()
	delete(l.live, tc)
	l.mu.Unlock()
	l.s.conns.release(tc.addr)
	l.s.activity.addConn(-1)
}

// connCaps counts the TCP and TLS connections of all listeners, in all
// and per client address, against MaxConnections and
// MaxConnectionsPerAddress.
type connCaps struct {
	max, perAddr int // 0: no cap

	mu     sync.Mutex // guards total and byAddr
	total  int
	byAddr map[netip.Addr]int
}

// admit counts a connection from addr, or returns why the caps refuse it.
func (c *connCaps) admit(addr netip.Addr) reason {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.max > 0 && c.total >= c.max:
		return reasonServerFull
	case c.perAddr > 0 && c.byAddr[addr] >= c.perAddr:
		return reasonAddressFull
	}
	c.total++
	c.byAddr[addr]++
	return reasonNone
}

// release uncounts a connection from addr.
func (c *connCaps) release(addr netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byAddr[addr]--; c.byAddr[addr] <= 0 {
		delete(c.byAddr, addr)
	}
}

// trackedConn is one TCP connection from a client. Until its first
// message (and its TLS handshake) it must not stay silent longer than
// the short timeout, then no longer than the idle timeout; a write that
// waits longer than the short timeout closes it (a partial STUN frame
// would leave the stream unusable anyway).
//
// Read is called by one goroutine at a time (the handshake's, then
// pion's); Write by several.
type trackedConn struct {
	net.Conn
	l           *listener
	addr        netip.Addr
	idle, short time.Duration

	handshaking bool      // a TLS handshake is under way; Read only
	started     bool      // a message has been read; Read only
	extended    time.Time // when the read deadline was last pushed; Read only

	writeMu       sync.Mutex // guards writeExtended
	writeExtended time.Time
	closeOnce     sync.Once
}

// Read reads, pushing the deadline to the idle timeout once the
// connection has started, lazily: at most every idle/8.
func (c *trackedConn) Read(b []byte) (int, error) {
	if c.started {
		if now := time.Now(); now.Sub(c.extended) > c.idle/8 {
			_ = c.Conn.SetReadDeadline(now.Add(c.idle))
			c.extended = now
		}
	}
	n, err := c.Conn.Read(b)
	if n > 0 && !c.started && !c.handshaking {
		c.started = true
		c.extended = time.Now()
		_ = c.Conn.SetReadDeadline(c.extended.Add(c.idle))
	}
	return n, err
}

// Write writes within the short timeout, or closes the connection.
func (c *trackedConn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	if now := time.Now(); now.Sub(c.writeExtended) > c.short/8 {
		_ = c.Conn.SetWriteDeadline(now.Add(c.short))
		c.writeExtended = now
	}
	c.writeMu.Unlock()
	n, err := c.Conn.Write(b)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		_ = c.Conn.Close()
	}
	return n, err
}

// Close closes the connection and forgets it, once.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.forget(c) })
	return err
}
