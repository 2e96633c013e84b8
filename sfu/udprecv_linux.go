package sfu

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawReceiver reads the media socket with raw recvfrom calls, so that,
// like the sends (see mmsgSender), reads do not tell the Go runtime they
// are system calls: each one would wake its monitor, when the program was
// idle, into polling every 20 µs, and a packet arriving at an idle server
// is the common case. The socket is non-blocking, so a read never blocks
// in the kernel: with nothing to read it waits in Go's poller.
type rawReceiver struct {
	rc syscall.RawConn

	mu sync.Mutex // serializes reads; guards the fields below
	// The arguments and results of one call of recv, kept here so that
	// the callback given to rc.Read is allocated once.
	buf   []byte
	n     int
	from  unix.RawSockaddrAny
	fromN uint32
	errno syscall.Errno
	recv  func(fd uintptr) bool
}

func newRawReceiver(conn *net.UDPConn) (*rawReceiver, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &rawReceiver{rc: rc}
	r.recv = r.recvfrom
	return r, nil
}

func (r *rawReceiver) recvfrom(fd uintptr) bool {
	for {
		r.fromN = unix.SizeofSockaddrAny
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.buf))), uintptr(len(r.buf)),
			0, uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&r.fromN)))
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.n, r.errno = int(n), errno
		return true
	}
}

// read reads one packet into b.
func (r *rawReceiver) read(b []byte) (int, netip.AddrPort, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = b
	err := r.rc.Read(r.recv)
	r.buf = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if r.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: r.errno}
	}
	var from netip.AddrPort
	switch r.from.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.from))
		port := (*[2]byte)(unsafe.Pointer(&sa.Port))
		from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(port[0])<<8|uint16(port[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.from))
		port := (*[2]byte)(unsafe.Pointer(&sa.Port))
		from = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(port[0])<<8|uint16(port[1]))
	}
	return r.n, from, nil
}
