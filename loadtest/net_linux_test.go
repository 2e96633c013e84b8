package loadtest

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/ice/v4"
	"golang.org/x/sys/unix"
)

// TestHarnessNetBuffers: the sockets pion opens for the harness get the
// larger receive buffer.
func TestHarnessNetBuffers(t *testing.T) {
	n, err := newHarnessNet(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.(ice.AddrPortReaderWriter); !ok {
		if _, ok := conn.(*net.UDPConn); !ok {
			t.Fatalf("ListenUDP returned %T, which pion cannot read without allocating", conn)
		}
	}
	rc, err := conn.(syscall.Conn).SyscallConn()
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

// TestGROConn sends a UDP GSO message of three full datagrams and a short
// one, then a plain datagram, and reads them back one by one; then an RTP
// packet, whose kernel receive time it must keep.
func TestGROConn(t *testing.T) {
	rconn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	stamps := &arrivalStamps{}
	c, err := newGROConn(rconn, stamps, nil)
	if err != nil {
		t.Skipf("this kernel has no UDP_GRO: %v", err)
	}
	defer c.Close()
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to := rconn.LocalAddr().(*net.UDPAddr)

	const seg = 1000
	var msg []byte
	for i, size := range []int{seg, seg, seg, 500} {
		msg = append(msg, bytes.Repeat([]byte{byte('a' + i)}, size)...)
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = seg
	if _, _, err := sender.WriteMsgUDP(msg, oob, to); err != nil {
		t.Skipf("this kernel has no UDP GSO: %v", err)
	}
	if _, err := sender.WriteToUDP([]byte("plain"), to); err != nil {
		t.Fatal(err)
	}

	from := sender.LocalAddr().(*net.UDPAddr).AddrPort()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for i, want := range [][]byte{msg[:seg], msg[seg : 2*seg], msg[2*seg : 3*seg], msg[3*seg:], []byte("plain")} {
		n, addr, err := c.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) || addr != netip.AddrPortFrom(from.Addr(), from.Port()) {
			t.Fatalf("read %d: %d bytes %q... from %v, want %d bytes %q... from %v", i, n, buf[:min(n, 3)], addr, len(want), want[:3], from)
		}
		if i == 0 && len(c.data) != len(msg)-seg {
			t.Fatalf("the first read kept %d bytes for later, want %d: the GSO message was not received whole", len(c.data), len(msg)-seg)
		}
	}

	if _, ok := stamps.take(0x61616161, 0x6161); ok {
		t.Error("a datagram that is not RTP got a receive time")
	}
	// The kernel turns receive timestamps on for all sockets a moment
	// after the first socket asks (a deferred static key); until then it
	// stamps packets when they are read. A few tries allow for that.
	rtpPkt := []byte{0x80, 96, 0x12, 0x34, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe}
	var waited time.Duration
	for try := 0; try < 10 && waited < 15*time.Millisecond; try++ {
		rtpPkt[3] = byte(try)
		before := time.Now()
		if _, err := sender.WriteToUDP(rtpPkt, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the packet waits in the socket
		if _, _, err := c.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
		read := time.Now()
		at, ok := stamps.take(0xcafebabe, 0x1200|uint16(try))
		if !ok {
			t.Fatal("an RTP packet got no receive time")
		}
		if at.Before(before.Add(-time.Millisecond)) {
			t.Fatalf("RTP packet sent at %v: receive time %v, before it was sent", before, at)
		}
		waited = read.Sub(at)
		if _, ok := stamps.take(0xcafebabe, 0x1200|uint16(try)); ok {
			t.Fatal("a receive time was kept after it was taken")
		}
	}
	if waited < 15*time.Millisecond {
		t.Errorf("an RTP packet that waited 20 ms in the socket was stamped %v before it was read, want the kernel's receive time", waited)
	}

	for range 200 {
		if _, err := sender.WriteToUDP(rtpPkt, to); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(100, func() {
		if _, _, err := c.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per read", a)
	}
}
