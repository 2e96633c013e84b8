package turnserver_test

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/internal/testcert"
	"github.com/sfu-project/sfu/internal/turnserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testSecret = "a-test-secret-of-the-cluster"

// testConfig is an enabled server on 127.0.0.1, on ports the system
// picks, with TLS on a fresh self-signed certificate.
func testConfig(t *testing.T) turnserver.Config {
	cfg := turnserver.Default()
	cfg.Enabled = true
	cfg.ListenIP, cfg.PublicIP = "127.0.0.1", "127.0.0.1"
	cfg.UDPPort, cfg.TCPPort, cfg.TLSPort = 0, 0, 0
	cfg.RelayPortMin, cfg.RelayPortMax = 0, 0
	cfg.Secret = testSecret
	cfg.TLSCert, cfg.TLSKey = testcert.Write(t, t.TempDir())
	cfg.HandshakeTimeout = 2 * time.Second
	return cfg
}

// logs collects what a server logs, at every level.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count is the number of lines holding every one of subs.
func (l *logs) count(subs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		all := line != ""
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// start runs a server as cfg and opts say, logging into the returned
// logs, and closes it when the test ends.
func start(t *testing.T, cfg turnserver.Config, opts turnserver.Options) (*turnserver.Server, *logs) {
	t.Helper()
	l := &logs{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := turnserver.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, l
}

// transports are the ways a client reaches the server.
var transports = []string{"udp", "tcp", "tls"}

// dial returns a pion TURN client of s over transport tr, logged in with
// cred; it is closed when the test ends.
func dial(t *testing.T, s *turnserver.Server, tr string, cred turnserver.Credential) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	var server string
	switch tr {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, server = pc, s.UDPAddr().String()
	case "tcp":
		c, err := net.Dial("tcp4", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn, server = turn.NewSTUNConn(c), s.TCPAddr().String()
	case "tls":
		c, err := tls.Dial("tcp4", s.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test certificate
		if err != nil {
			t.Fatal(err)
		}
		conn, server = turn.NewSTUNConn(c), s.TLSAddr().String()
	default:
		t.Fatalf("no transport %q", tr)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: cred.Username, Password: cred.Password, Realm: s.Realm(),
		RTO: 200 * time.Millisecond,
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		conn.Close()
	})
	return client
}

// allocate allocates a relay for client, closed when the test ends.
func allocate(t *testing.T, client *turn.Client) net.PacketConn {
	t.Helper()
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

// peer is a UDP socket on 127.0.0.1 that a relay sends to.
type peer struct {
	*net.UDPConn
	ap netip.AddrPort
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{c, c.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// receive returns the next datagram within wait, or ok false.
func (p *peer) receive(wait time.Duration) (data string, from net.Addr, ok bool) {
	buf := make([]byte, 2048)
	_ = p.SetReadDeadline(time.Now().Add(wait))
	n, from, err := p.ReadFrom(buf)
	if err != nil {
		return "", nil, false
	}
	return string(buf[:n]), from, true
}

// credential is identity's credential under testSecret, expiring in an
// hour.
func credential(identity string) turnserver.Credential {
	return turnserver.NewCredential(testSecret, identity, time.Now().Add(time.Hour))
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
