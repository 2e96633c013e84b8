package turnserver_test

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/internal/turnserver"
)

// garbage is input no client should send: random bytes, truncated and
// lying STUN headers, a ChannelData for no channel, a flood of
// unauthenticated Allocate requests.
func garbage() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	var out [][]byte
	for range 200 {
		b := make([]byte, r.IntN(1500)+1)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		out = append(out, b)
	}
	header := func(method stun.MessageType, length uint16, total int) []byte {
		b := make([]byte, total)
		binary.BigEndian.PutUint16(b[0:], method.Value())
		binary.BigEndian.PutUint16(b[2:], length)
		binary.BigEndian.PutUint32(b[4:], 0x2112A442) // the magic cookie
		return b
	}
	out = append(out,
		header(stun.NewType(stun.MethodAllocate, stun.ClassRequest), 0, 19),        // truncated header
		header(stun.NewType(stun.MethodAllocate, stun.ClassRequest), 1000, 40),     // length beyond the datagram
		header(stun.NewType(stun.MethodAllocate, stun.ClassRequest), 3, 23),        // attribute cut short
		header(stun.NewType(stun.MethodBinding, stun.ClassIndication), 0, 20),      // an indication nobody handles
		header(stun.NewType(stun.MethodChannelBind, stun.ClassRequest), 0, 20),     // unauthenticated
		header(stun.NewType(stun.MethodSend, stun.ClassIndication), 0, 20),         // Send without an allocation
		[]byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4},                                 // ChannelData, no channel
		[]byte{0x40, 0x00, 0xff, 0xff, 1, 2, 3, 4},                                 // ChannelData, lying length
		header(stun.NewType(stun.MethodRefresh, stun.ClassSuccessResponse), 0, 20), // a response to nothing
	)
	for range 300 {
		m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest))
		out = append(out, m.Raw)
	}
	return out
}

// TestBadInput: garbage over UDP, TCP and TLS, and connections that stay
// silent, break nothing: the server keeps serving valid clients, closes
// the silent connections after handshake_timeout, and caps connections
// per address.
func TestBadInput(t *testing.T) {
	p := newPeer(t)
	cfg := testConfig(t)
	cfg.HandshakeTimeout = 300 * time.Millisecond
	cfg.MaxConnectionsPerAddress = 4
	s, _ := start(t, cfg, turnserver.Options{AllowedPeers: []netip.AddrPort{p.ap}})

	udp, err := net.Dial("udp4", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, b := range garbage() {
		_, _ = udp.Write(b)
	}
	for _, b := range garbage()[:210] {
		c, err := net.Dial("tcp4", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(b)
		c.Close()
	}
	// The server counts a connection against its address until it has
	// seen it closed: under load the 210 above may still hold the cap.
	var tc *tls.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		tc, err = tls.Dial("tcp4", s.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test certificate
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, _ = tc.Write(garbage()[3])
	tc.Close()

	// Silent connections, plain and TLS (no handshake), are closed.
	for _, addr := range []net.Addr{s.TCPAddr(), s.TLSAddr()} {
		c, err := net.Dial("tcp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, io.EOF) {
			t.Errorf("silent connection to %s: read %v, want EOF as the server closes it", addr, err)
		}
	}

	// At most max_connections_per_address from one address.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	s2cfg := testConfig(t)
	s2cfg.MaxConnectionsPerAddress = 2
	s2, _ := start(t, s2cfg, turnserver.Options{})
	for range 2 {
		c, err := net.Dial("tcp4", s2.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	eventually(t, "two connections held", func() bool { return s2.Refusals("address_full") == 0 && len(held) == 2 })
	extra, err := net.Dial("tcp4", s2.TLSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 10)); !errors.Is(err, io.EOF) {
		t.Errorf("third connection from one address: read %v, want EOF", err)
	}
	if n := s2.Refusals("address_full"); n != 1 {
		t.Errorf("%d address_full refusals, want 1", n)
	}

	// Valid clients are still served, over every transport.
	for _, tr := range transports {
		relay := allocate(t, dial(t, s, tr, credential("ann-"+tr)))
		if _, err := relay.WriteTo([]byte("after the garbage"), net.UDPAddrFromAddrPort(p.ap)); err != nil {
			t.Fatal(err)
		}
		if got, _, ok := p.receive(5 * time.Second); !ok || got != "after the garbage" {
			t.Fatalf("%s: peer received %q (%v)", tr, got, ok)
		}
	}
}

// TestCloseEndsEverything: Close with allocations live over every
// transport, a connection mid-handshake and an idle one, closes every
// connection and socket and leaves no goroutine behind.
func TestCloseEndsEverything(t *testing.T) {
	before := goleak.IgnoreCurrent()
	p := newPeer(t)
	s, err := turnserver.New(testConfig(t), turnserver.Options{AllowedPeers: []netip.AddrPort{p.ap}})
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for _, tr := range transports {
		relay := allocate(t, dial(t, s, tr, credential("ann")))
		if _, err := relay.WriteTo([]byte("live"), net.UDPAddrFromAddrPort(p.ap)); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []net.Addr{s.TCPAddr(), s.TLSAddr()} {
		c, err := net.Dial("tcp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	eventually(t, "the connections to be held", func() bool { return s.Allocations() == 3 })
	addrs := []net.Addr{s.UDPAddr(), s.TCPAddr(), s.TLSAddr()}

	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("%d allocations after close", n)
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, io.EOF) {
			t.Errorf("connection after close: read %v, want EOF", err)
		}
		c.Close()
	}
	for _, a := range addrs {
		var err error
		if a.Network() == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp4", a.String()); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp4", a.String()); err == nil {
				l.Close()
			}
		}
		if err != nil {
			t.Errorf("%s still taken after close: %v", a, err)
		}
	}
	// The server's goroutines are gone; the clients' end with the test.
	if err := goleak.Find(before, goleak.IgnoreAnyFunction("github.com/pion/turn/v5.(*Client).Listen.func1"),
		goleak.IgnoreAnyFunction("github.com/pion/turn/v5/internal/client.(*PeriodicTimer).Start.func1"),
		// A client's channel bind, started by its first write, may still
		// wait for the answer the closed server will never send.
		goleak.IgnoreAnyFunction("github.com/pion/turn/v5/internal/client.(*UDPConn).bind")); err != nil {
		t.Error(err)
	}
}
