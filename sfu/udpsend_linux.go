package sfu

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/logging"
	"golang.org/x/sys/unix"
)

const (
	// gsoMaxBytes and gsoMaxSegments keep a GSO message within what the
	// kernel accepts (64 KiB of payload, UDP_MAX_SEGMENTS segments).
	gsoMaxBytes    = 65000
	gsoMaxSegments = 64
	// sendChunk is about the most packets given to one sendmmsg, which
	// bounds the time the call holds its thread (see mmsgSender): some
	// 200 µs.
	sendChunk = 64
)

// gsoControlSize is the size of one UDP_SEGMENT control message.
var gsoControlSize = unix.CmsgSpace(2)

// mmsghdr is struct mmsghdr: Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// sendBatch holds a batch of packets and the kernel structures that send
// them, allocated once.
type sendBatch struct {
	n    int
	gen  uint64   // its number, for the departures of TWCC (flushClock)
	bufs [][]byte // the packets, each with capacity batchSlot
	to   []netip.AddrPort
	sa   []unix.RawSockaddrInet4 // to, as the kernel wants it

	// Built by pack: the messages, the packets in sending order, and
	// where each message's packets start in that order.
	hs    []mmsghdr
	iov   []unix.Iovec
	order []int32
	start []int32
	oob   []byte // a UDP_SEGMENT control message per message

	next  []int32 // the next packet to the same destination, or -1
	taken []bool
	last  map[netip.AddrPort]int32
}

func newSendBatch(size int) *sendBatch {
	b := &sendBatch{
		bufs:  make([][]byte, size),
		to:    make([]netip.AddrPort, size),
		sa:    make([]unix.RawSockaddrInet4, size),
		hs:    make([]mmsghdr, size),
		iov:   make([]unix.Iovec, size),
		order: make([]int32, size),
		start: make([]int32, size+1),
		oob:   make([]byte, size*gsoControlSize),
		next:  make([]int32, size),
		taken: make([]bool, size),
		last:  make(map[netip.AddrPort]int32),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, 0, batchSlot)
		b.sa[i].Family = unix.AF_INET
	}
	return b
}

// add copies p, to be sent to addr (IPv4), and reports whether the batch
// is now full.
func (b *sendBatch) add(p []byte, addr netip.AddrPort) bool {
	i := b.n
	b.bufs[i] = append(b.bufs[i][:0], p...)
	b.to[i] = addr
	b.sa[i].Addr = addr.Addr().As4()
	port := (*[2]byte)(unsafe.Pointer(&b.sa[i].Port))
	port[0], port[1] = byte(addr.Port()>>8), byte(addr.Port())
	b.n++
	return b.n == len(b.bufs)
}

// pack builds the messages and returns how many there are. Without GSO
// there is one per packet. With GSO, packets to one destination are
// gathered, in order, into one message while they have the size of its
// first (the last may be shorter), which is what the kernel can cut back
// into the same packets.
func (b *sendBatch) pack(gso bool) int {
	if gso {
		// Chain each packet to the next one for the same destination.
		clear(b.last)
		for i := b.n - 1; i >= 0; i-- {
			b.next[i] = -1
			if j, ok := b.last[b.to[i]]; ok {
				b.next[i] = j
			}
			b.last[b.to[i]] = int32(i)
		}
	}
	clear(b.taken[:b.n])
	nm, no := 0, 0
	for i := range b.n {
		if b.taken[i] {
			continue
		}
		b.start[nm] = int32(no)
		b.order[no] = int32(i)
		no++
		seg := len(b.bufs[i])
		total := seg
		for j := b.next[i]; gso && seg > 0 && j >= 0 && no-int(b.start[nm]) < gsoMaxSegments; j = b.next[j] {
			l := len(b.bufs[j])
			if l > seg || total+l > gsoMaxBytes {
				break // j starts the destination's next message
			}
			b.taken[j] = true
			b.order[no] = j
			no++
			total += l
			if l < seg {
				break // only the last segment may be shorter
			}
		}
		first, count := int(b.start[nm]), no-int(b.start[nm])
		for k := first; k < no; k++ {
			buf := b.bufs[b.order[k]]
			b.iov[k] = unix.Iovec{Base: unsafe.SliceData(buf)}
			b.iov[k].SetLen(len(buf))
		}
		h := &b.hs[nm].hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&b.sa[i])), Namelen: unix.SizeofSockaddrInet4, Iov: &b.iov[first]}
		h.SetIovlen(count)
		if count > 1 {
			oob := b.oob[nm*gsoControlSize : (nm+1)*gsoControlSize]
			putGSOControl(oob, seg)
			h.Control = &oob[0]
			h.SetControllen(len(oob))
		}
		nm++
	}
	b.start[nm] = int32(no)
	return nm
}

// putGSOControl writes into oob, of gsoControlSize bytes, the control
// message that asks the kernel to cut a payload into size-byte datagrams.
func putGSOControl(oob []byte, size int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(size) // host order
}

// mmsgSender sends batches on one socket, from one goroutine. It makes the sendmmsg system
// call raw, holding its thread: a batch takes a few hundred microseconds
// in the kernel, and a Go system call that long has its processor handed
// to another thread and keeps the runtime's monitor polling every 20 µs,
// which cost more CPU than the batching saved. sendChunk bounds the
// time of one call. The socket is non-blocking: when its buffer is full
// the call returns EAGAIN and the poller waits, like any Go write.
type mmsgSender struct {
	conn *net.UDPConn
	rc   syscall.RawConn
	gso  bool // the kernel segments for us; cleared if the device cannot
	log  logging.LeveledLogger

	// The arguments and results of one call of write, kept here so that
	// the callback given to rc.Write is allocated once.
	hs    []mmsghdr
	sent  int
	errno syscall.Errno
	write func(fd uintptr) bool

	dropped    int // failed sends not yet reported
	lastReport time.Time
}

func newMMsgSender(conn *net.UDPConn, log logging.LeveledLogger) (*mmsgSender, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &mmsgSender{conn: conn, rc: rc, log: log}
	s.write = s.sendmmsg
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err == nil && serr == nil {
		s.gso = true
	}
	return s, nil
}

func (s *mmsgSender) sendmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hs[0])), uintptr(len(s.hs)), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		s.sent, s.errno = int(n), errno
		return errno != unix.EAGAIN
	}
}

// send sends the packets of b. A message the kernel refuses is dropped,
// except that a GSO message is then sent packet by packet.
func (s *mmsgSender) send(b *sendBatch) {
	nm := b.pack(s.gso)
	for m := 0; m < nm; {
		end := m + 1
		for end < nm && b.start[end+1]-b.start[m] <= sendChunk {
			end++
		}
		s.hs = b.hs[m:end]
		err := s.rc.Write(s.write)
		if err == nil && s.errno == 0 {
			m += max(s.sent, 1) // sendmmsg sends at least one or fails
			continue
		}
		if err == nil {
			err = s.errno
		}
		// Message m failed.
		if first, end := b.start[m], b.start[m+1]; end-first > 1 {
			if errors.Is(err, unix.EIO) {
				s.gso = false // the device cannot checksum segments
			}
			for _, i := range b.order[first:end] {
				if _, err := s.conn.WriteToUDPAddrPort(b.bufs[i], b.to[i]); err != nil {
					s.failed(err)
				}
			}
		} else {
			s.failed(err)
		}
		m++
	}
	s.hs = nil
}

// failed counts a lost packet and logs now and then.
func (s *mmsgSender) failed(err error) {
	s.dropped++
	if now := time.Now(); now.Sub(s.lastReport) >= sendErrorReport {
		s.log.Warnf("sfu: media socket: %d packets not sent: %v", s.dropped, err)
		s.dropped = 0
		s.lastReport = now
	}
}
