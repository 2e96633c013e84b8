package loadtest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/transport/v5"
	"golang.org/x/sys/unix"
)

// groConn reads a UDP socket with generic receive offload (UDP_GRO): the
// kernel hands over up to 64 KiB of same-sized datagrams from one sender
// in one read, which groConn then returns one datagram per call. The SFU
// sends each subscriber a video frame's packets as one UDP GSO message,
// and on loopback that message reaches the socket whole, so a read
// returns about three packets instead of one.
//
// Reads use raw recvmsg calls on the non-blocking socket, so they do not
// tell the Go runtime they are system calls (see the SFU's rawReceiver);
// with nothing to read they wait in Go's poller. Each read also brings
// the kernel's receive time (SO_TIMESTAMPNS). A subscriber connection's
// media packets go to its srtpTap, if it takes them; the receive times of
// the other RTP packets are kept in stamps.
type groConn struct {
	*net.UDPConn
	rc     syscall.RawConn
	stamps *arrivalStamps // nil: not kept
	tap    *srtpTap       // nil: every packet goes up to pion

	mu   sync.Mutex // serializes reads; guards the fields below
	buf  []byte     // what the last read returned
	data []byte     // the part of buf not yet handed out
	seg  int        // the size of each datagram in data but maybe the last
	from netip.AddrPort
	at   time.Time // when the kernel received buf; zero if unknown

	// The tap's scratch: a decrypted packet, and the packet parsed.
	plain []byte
	pkt   pionrtp.Packet

	// The arguments and results of one recvmsg, kept here so that the
	// callback given to rc.Read is allocated once.
	msg   unix.Msghdr
	iov   unix.Iovec
	oob   []byte
	sa    unix.RawSockaddrAny
	n     int
	errno syscall.Errno
	recv  func(fd uintptr) bool
}

// groBuffer holds the largest message UDP_GRO delivers.
const groBuffer = 64 << 10

// newGROConn turns UDP_GRO on for conn, and receive timestamps if stamps
// or tap is not nil. If the kernel refuses UDP_GRO, it returns nil and the
// error.
func newGROConn(conn *net.UDPConn, stamps *arrivalStamps, tap *srtpTap) (*groConn, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	if stamps != nil || tap != nil {
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		}); err != nil || serr != nil {
			stamps = nil
		}
	}
	c := &groConn{UDPConn: conn, rc: rc, stamps: stamps, tap: tap, buf: make([]byte, groBuffer), plain: make([]byte, receiveMTU),
		oob: make([]byte, unix.CmsgSpace(4)+unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))}
	c.recv = c.recvmsg
	if tap != nil {
		tap.install()
	}
	return c, nil
}

func (c *groConn) recvmsg(fd uintptr) bool {
	for {
		c.iov.Base, c.iov.Len = unsafe.SliceData(c.buf), uint64(len(c.buf))
		c.msg = unix.Msghdr{
			Name: (*byte)(unsafe.Pointer(&c.sa)), Namelen: unix.SizeofSockaddrAny,
			Iov: &c.iov, Iovlen: 1,
			Control: unsafe.SliceData(c.oob), Controllen: uint64(len(c.oob)),
		}
		n, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		c.n, c.errno = int(n), errno
		return true
	}
}

// ReadFromAddrPort returns the next datagram that the tap does not take.
// pion's ICE agent reads through it without allocating.
func (c *groConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if len(c.data) == 0 {
			if err := c.rc.Read(c.recv); err != nil {
				return 0, netip.AddrPort{}, err
			}
			if c.errno != 0 {
				return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: c.errno}
			}
			c.data, c.seg, c.from, c.at = c.buf[:c.n], c.n, sockaddrToAddrPort(&c.sa), time.Time{}
			seg, at := readControl(c.oob[:c.msg.Controllen])
			if seg > 0 {
				c.seg = seg
			}
			if at != 0 {
				c.at = time.Unix(0, at)
			}
		}
		d := c.data[:min(c.seg, len(c.data))]
		c.data = c.data[len(d):]
		if c.tap != nil {
			if h, plain := c.tap.decrypt(d, c.plain); h != nil {
				h(plain, c.at, &c.pkt)
				continue
			}
		}
		if c.stamps != nil && !c.at.IsZero() {
			c.stamps.stampRTP(d, c.at.UnixNano())
		}
		return copy(b, d), c.from, nil
	}
}

// WriteToAddrPort writes one datagram.
func (c *groConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// ReadFrom returns the next datagram, as ReadFromAddrPort does.
func (c *groConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// readControl returns the datagram size of a UDP_GRO control message in
// oob, or 0 if there is none (the read returned one datagram), and the
// receive time of an SO_TIMESTAMPNS one in Unix ns, or 0.
func readControl(oob []byte) (seg int, at int64) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(unsafe.SliceData(oob)))
		if h.Len < unix.SizeofCmsghdr || h.Len > uint64(len(oob)) {
			break
		}
		data := oob[unix.CmsgLen(0):h.Len]
		switch {
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 4:
			seg = int(binary.NativeEndian.Uint32(data))
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(unsafe.SliceData(data)))
			at = ts.Nano()
		}
		oob = oob[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(oob)):]
	}
	return seg, at
}

// withGRO returns conn reading with UDP_GRO, handing media to tap and
// keeping the other RTP packets' receive times in stamps (either may be
// nil), or conn itself if the kernel does not offer UDP_GRO.
func withGRO(conn *net.UDPConn, stamps *arrivalStamps, tap *srtpTap) transport.UDPConn {
	if c, err := newGROConn(conn, stamps, tap); err == nil {
		return c
	}
	return conn
}

func sockaddrToAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&in.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(port[0])<<8|uint16(port[1]))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&in.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr).Unmap(), uint16(port[0])<<8|uint16(port[1]))
	}
	return netip.AddrPort{}
}
