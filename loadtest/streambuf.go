package loadtest

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5/packetio"
)

// streamBuffers make the buffers pion's SRTP session writes each incoming
// stream's decrypted packets into (SettingEngine.BufferFactory), so that
// the receiver can take a track's packets where they are decrypted.
//
// pion hands each packet from goroutine to goroutine three times between
// the socket and TrackRemote.Read: socket reader, DTLS/SRTP demultiplexer,
// SRTP session, track reader. On a machine that runs thousands of
// subscribers, each hand-off costs more than the work done on the packet.
// Once the receiver attaches a handler to a track's buffer, the SRTP
// session's goroutine runs it on each packet instead of queueing the
// packet for the track's reader: one hand-off fewer, and none of
// TrackRemote.Read's per-packet bookkeeping. ICE, DTLS, SRTP and RTCP stay
// pion's own.
//
// Where the srtpTap runs (Linux), it takes a stream's packets earlier
// still, at the socket, once the receiver reads the track; the stream
// buffers then carry only what pion already had on its way when the tap
// started, and what the tap leaves to pion.
type streamBuffers struct {
	mu sync.Mutex // guards byRTP
	// byRTP holds the RTP buffers not yet taken, by SSRC.
	byRTP map[uint32]*streamBuffer
}

// srtpBufferLimit and srtcpBufferLimit are the sizes pion gives its own
// buffers.
const (
	srtpBufferLimit  = 1_000_000
	srtcpBufferLimit = 100_000
)

func newStreamBuffers() *streamBuffers {
	return &streamBuffers{byRTP: map[uint32]*streamBuffer{}}
}

// factory is the SettingEngine's BufferFactory.
func (s *streamBuffers) factory(kind packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	q := packetio.NewBuffer()
	if kind != packetio.RTPBufferPacket {
		q.SetLimitSize(srtcpBufferLimit)
		return plainBuffer{q}
	}
	q.SetLimitSize(srtpBufferLimit)
	b := &streamBuffer{queue: q, ssrc: ssrc, owner: s}
	s.mu.Lock()
	s.byRTP[ssrc] = b
	s.mu.Unlock()
	return b
}

// take returns the buffer of the stream ssrc, once (nil if there is none).
func (s *streamBuffers) take(ssrc uint32) *streamBuffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.byRTP[ssrc]
	delete(s.byRTP, ssrc)
	return b
}

func (s *streamBuffers) forget(b *streamBuffer) {
	s.mu.Lock()
	if s.byRTP[b.ssrc] == b {
		delete(s.byRTP, b.ssrc)
	}
	s.mu.Unlock()
}

// streamBuffer is one stream's buffer. Until a handler is attached it
// queues packets for pion's reads, as pion's own buffer does; after, the
// writer runs the handler on each packet, and reads wait for the close.
type streamBuffer struct {
	queue  *packetio.Buffer
	ssrc   uint32
	owner  *streamBuffers
	mu     sync.Mutex // orders attach against writes that queue
	handle atomic.Pointer[func([]byte)]
}

// Write is called by the SRTP session's goroutine with each decrypted
// packet; p is not kept.
func (b *streamBuffer) Write(p []byte) (int, error) {
	if h := b.handle.Load(); h != nil {
		(*h)(p)
		return len(p), nil
	}
	b.mu.Lock()
	if h := b.handle.Load(); h != nil {
		b.mu.Unlock()
		(*h)(p)
		return len(p), nil
	}
	n, err := b.queue.Write(p, nil)
	b.mu.Unlock()
	return n, err
}

// attach runs h on the packets queued so far, in order, and then on each
// packet written, on the writer's goroutine. Nothing may read the buffer
// concurrently with attach.
func (b *streamBuffer) attach(h func([]byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := make([]byte, receiveMTU)
	for b.queue.Count() > 0 {
		n, _, err := b.queue.Read(buf, nil)
		if err != nil {
			break
		}
		h(buf[:n])
	}
	b.handle.Store(&h)
}

// Read returns the packets queued before a handler was attached; after,
// it waits until the stream closes.
func (b *streamBuffer) Read(p []byte) (int, error) {
	n, _, err := b.queue.Read(p, nil)
	return n, err
}

// SetReadDeadline bounds reads, as pion's own buffer does.
func (b *streamBuffer) SetReadDeadline(t time.Time) error { return b.queue.SetReadDeadline(t) }

// Close ends the stream: reads return io.EOF.
func (b *streamBuffer) Close() error {
	b.owner.forget(b)
	return b.queue.Close()
}

// plainBuffer is a packet buffer as an io.ReadWriteCloser, as pion's own
// SRTCP buffer is. It keeps no packet attributes: pion's DTLS/SRTP
// demultiplexer passes none on.
type plainBuffer struct{ *packetio.Buffer }

func (b plainBuffer) Read(p []byte) (int, error) {
	n, _, err := b.Buffer.Read(p, nil)
	return n, err
}

func (b plainBuffer) Write(p []byte) (int, error) { return b.Buffer.Write(p, nil) }

// receiveMTU is the largest packet the receiver reads, pion's default.
const receiveMTU = 1460
