package loadtest

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestHarnessNetBuffers: the sockets pion opens for the harness get the
// larger receive buffer.
func TestHarnessNetBuffers(t *testing.T) {
	n, err := newHarnessNet()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		t.Fatalf("ListenUDP returned %T, want *net.UDPConn (pion reads it without allocating)", conn)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	// The kernel caps the size at net.core.rmem_max and reports twice
	// what it set.
	want := socketBuffer
	if b, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
		if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			want = min(want, max)
		}
	}
	if size < 2*want {
		t.Errorf("receive buffer %d bytes, want %d", size, 2*want)
	}
}
