package sfu

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/logging"
	"golang.org/x/sys/unix"
)

// Batching of the media socket's writes. A loopback UDP send costs about
// 8 µs of CPU, most of it the kernel's per-call and per-packet work, and an
// SFU sends each packet once per subscriber. Writes are therefore copied
// into a batch that one goroutine sends with sendmmsg, and where the
// kernel offers UDP GSO, the packets of a batch that go to one
// destination leave as few GSO messages.
const (
	// batchSize is the number of packets a batch holds. Video fan-out
	// writes a frame's packets to one subscriber in a row (runFrames), so
	// they sit side by side for GSO to gather; audio goes a packet per
	// subscriber. In practice batches are sent by the interval before they
	// fill.
	batchSize = 1024
	// batchBuffers is how many batches exist: one filling, the rest queued
	// or being sent. A writer waits for a free batch when all are in use,
	// which bounds the memory and pushes back on the senders.
	batchBuffers = 3
	// batchInterval is how often batches are sent: the most a packet
	// waits before its batch is handed to the kernel. Sending a batch takes
	// a few hundred microseconds more at most.
	batchInterval = 500 * time.Microsecond
	// batchSlot is the largest packet a batch holds; larger writes (none
	// in practice: pion keeps DTLS, SCTP and RTP under 1,200 bytes) are
	// sent on their own.
	batchSlot = 1500
	// sendErrorReport is the least time between two log lines about
	// failed sends.
	sendErrorReport = 10 * time.Second
)

// errNotUDP is returned for a write to an address that is not UDP.
var errNotUDP = errors.New("sfu: media socket: not a UDP address")

// newMediaConn wraps the media socket so that its writes are batched, and
// returns the clock of its batches' departures.
func newMediaConn(conn *net.UDPConn, now func() time.Time, log logging.LeveledLogger) (net.PacketConn, *flushClock, error) {
	c, err := newBatchConn(conn, batchSize, batchInterval, now, log)
	if err != nil {
		return nil, nil, err
	}
	return c, c.flushes, nil
}

// batchConn is the media socket handed to the ICE UDP mux. Reads go
// straight to the socket. Writes are copied into the current batch and
// return at once. While there is anything to send, a timer (a timerfd:
// Go's own timers wake an idle program only to the millisecond) ticks
// every interval, and at each tick the flusher goroutine sends every
// batch in the order they were started, so packets to one destination
// keep their order. Close stops the flusher. flushes numbers the batches
// and records when each was sent, for the departures of TWCC.
//
// It implements ice.AddrPortReaderWriter, which the mux uses to read and
// write without allocating an address per packet.
type batchConn struct {
	conn     *net.UDPConn
	sender   *mmsgSender // used by the flusher only
	receiver *rawReceiver
	timer    *os.File // the timerfd; the flusher reads its ticks
	timerRC  syscall.RawConn
	timerFD  int
	readTick func(fd uintptr) bool // reads timerFD; allocated once
	tickErr  syscall.Errno         // what readTick last failed with; flusher only
	interval time.Duration
	flushes  *flushClock // advanced under mu; departures recorded by the flusher

	mu      sync.Mutex   // guards the fields below, and arming timerFD
	freed   sync.Cond    // a batch was freed, or the conn closed; uses mu
	cur     *sendBatch   // the batch being filled, nil until the next write
	full    []*sendBatch // filled batches, oldest first
	free    []*sendBatch
	ticking bool // the timer is armed
	closed  bool

	flusherDone chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

// newBatchConn wraps conn, an IPv4 UDP socket, and starts its flusher.
// Batches hold size packets and are sent every interval; now stamps their
// departures.
func newBatchConn(conn *net.UDPConn, size int, interval time.Duration, now func() time.Time, log logging.LeveledLogger) (*batchConn, error) {
	sender, err := newMMsgSender(conn, log)
	if err != nil {
		return nil, err
	}
	receiver, err := newRawReceiver(conn)
	if err != nil {
		return nil, err
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sfu: media socket timer: %w", err)
	}
	c := &batchConn{
		conn:        conn,
		sender:      sender,
		receiver:    receiver,
		timer:       os.NewFile(uintptr(fd), "batch timer"), // non-blocking: waited for by Go's poller
		timerFD:     fd,
		interval:    interval,
		flushes:     newFlushClock(now),
		flusherDone: make(chan struct{}),
	}
	if c.timerRC, err = c.timer.SyscallConn(); err != nil {
		_ = c.timer.Close()
		return nil, fmt.Errorf("sfu: media socket timer: %w", err)
	}
	c.readTick = c.readTickRaw
	c.freed.L = &c.mu
	for range batchBuffers {
		c.free = append(c.free, newSendBatch(size))
	}
	go c.flusher()
	return c, nil
}

// WriteToAddrPort queues b for addr. It returns once b is copied: errors
// of the send itself are not reported to the writer, as with any UDP send
// that the kernel accepts and the network later drops. It waits while
// every batch is full and not yet sent.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if len(b) > batchSlot || !addr.Addr().Is4() {
		return c.conn.WriteToUDPAddrPort(b, addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.cur == nil && len(c.free) == 0 && !c.closed {
		c.freed.Wait()
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.cur == nil {
		c.cur = c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
		c.cur.gen = c.flushes.start()
	}
	if c.cur.add(b, addr) {
		c.full = append(c.full, c.cur)
		c.cur = nil
		if len(c.free) == 0 {
			c.armLocked(time.Nanosecond) // no batch left to fill: send now
			return len(b), nil
		}
	}
	if !c.ticking {
		c.armLocked(c.interval)
	}
	return len(b), nil
}

// The timer's system calls are made raw, as the sends are (see
// mmsgSender): a Go system call made while the program is idle wakes the
// runtime's monitor into polling every 20 µs, and the flusher wakes from
// idle at every tick. They are short and never block.

// armLocked starts the timer ticking every interval, first after first.
// The timer's file is open while the conn is not closed.
func (c *batchConn) armLocked(first time.Duration) {
	c.setTimerLocked(unix.ItimerSpec{Value: unix.NsecToTimespec(int64(first)), Interval: unix.NsecToTimespec(int64(c.interval))})
	c.ticking = true
}

// disarmLocked stops the timer.
func (c *batchConn) disarmLocked() {
	c.setTimerLocked(unix.ItimerSpec{})
	c.ticking = false
}

func (c *batchConn) setTimerLocked(spec unix.ItimerSpec) {
	// Cannot fail with a valid descriptor and times.
	_, _, _ = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(c.timerFD), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}

// readTickRaw consumes the timer's expirations; it reports false, to wait
// with the poller, while there are none.
func (c *batchConn) readTickRaw(fd uintptr) bool {
	var ticks uint64
	_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&ticks)), 8)
	c.tickErr = errno
	return errno != unix.EAGAIN && errno != unix.EINTR
}

// WriteTo queues b for addr, which must be a *net.UDPAddr.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, errNotUDP
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// ReadFromAddrPort reads one packet from the socket.
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.receiver.read(b)
}

// ReadFrom reads one packet from the socket.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.receiver.read(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// LocalAddr is the socket's address, a *net.UDPAddr.
func (c *batchConn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// SetDeadline sets the socket's deadlines; a write deadline also limits
// the flusher's sends.
func (c *batchConn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *batchConn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (c *batchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// Close sends what is queued, stops the flusher and closes the socket.
func (c *batchConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.freed.Broadcast()
		c.mu.Unlock()
		// No one arms the timer now: closing it ends the flusher's read.
		c.closeErr = c.timer.Close()
		<-c.flusherDone
		c.closeErr = errors.Join(c.closeErr, c.conn.Close())
	})
	return c.closeErr
}

// flusher sends everything queued at each tick of the timer, and stops
// the timer when a tick finds nothing to send. After Close it sends what
// is left and returns.
func (c *batchConn) flusher() {
	defer close(c.flusherDone)
	var sending []*sendBatch
	for {
		err := c.timerRC.Read(c.readTick)
		stop := err != nil || c.tickErr != 0 // the timer was closed, or broke: send what is left
		c.mu.Lock()
		if stop && !c.closed {
			c.closed = true // writers fail rather than wait for a flusher that is gone
			c.freed.Broadcast()
		}
		// Full batches are older than the one being filled.
		sending = append(sending[:0], c.full...)
		clear(c.full)
		c.full = c.full[:0]
		if c.cur != nil && c.cur.n > 0 {
			sending = append(sending, c.cur)
			c.cur = nil
		}
		if len(sending) == 0 && c.ticking && !c.closed {
			c.disarmLocked()
		}
		c.mu.Unlock()

		for _, b := range sending {
			c.flushes.flushed(b.gen)
			c.sender.send(b)
			b.n = 0
		}

		c.mu.Lock()
		c.free = append(c.free, sending...)
		c.freed.Broadcast()
		c.mu.Unlock()
		clear(sending)
		if stop {
			return
		}
	}
}
