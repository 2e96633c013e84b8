package sfu

import (
	"sync/atomic"
	"time"
)

// Where a packet's departure is stamped. The bandwidth estimator compares
// each packet's departure with its arrival, and reads any growth of the
// difference as a queue on the path. The interceptor that learns a
// packet's transport-wide sequence number sits before SRTP and before the
// media socket's batching (batchConn), where a packet waits for the next
// flush: up to batchInterval when the server is idle, and under load also
// while the flusher waits for a CPU and sends the batches before it (and
// a writer may wait for a free batch). Stamped there, the server's own
// contention read as path delay, and most when it was busiest.
//
// So a packet is stamped with the time its batch was handed to the kernel.
// The batches are numbered in the order they are started (generations): a
// packet's slot in the sent ring records the newest generation when its
// write returned, which is the batch it went into, and the flusher records
// the time it sends each generation in a small ring here. Nothing is allocated and no lock is taken per packet: the writer
// reads one atomic counter, the flusher writes one slot per batch, and the
// feedback looks the generation up.
//
// The other way, stamping at the flush from the transport-wide sequence
// number in the plaintext header extension of each outgoing SRTP packet,
// would be exact per packet, but the flusher would have to parse every
// packet and find the subscriber it belongs to (a shared map from
// destination or SSRC to sent ring, kept up to date as connections come
// and go) for a gain of at most one batch's send time.
//
// The generation read after the write is another only when a write from
// another goroutine started a new batch in the few nanoseconds between the
// packet's copy and the read, which needs the packet's batch to have been
// filled or taken by the flusher just then: the packet is then stamped
// with the next batch's departure, a flush late at most.
// Where the socket does not batch (not Linux), there are no generations:
// the interceptor stamps the time of the write, which then is the send.
// The batching socket writes a packet to an IPv6 address or over
// batchSlot bytes at once; the media socket is IPv4 only and pion keeps
// packets under 1,200 bytes, so no media takes that path.

// flushRing is how many batch departures are remembered. Batches are sent
// at most every batchInterval, or when full: some 2,000 a second at most,
// so feedback, which arrives within a few hundred milliseconds, finds its
// packets' batches for several seconds.
const flushRing = 1 << 13

// flushClock numbers the media socket's batches and records when each was
// sent. Writers of packets read the generation; the socket's writers
// advance it under the socket's lock, and its one flusher records the
// departures.
type flushClock struct {
	now  func() time.Time
	base time.Time // departures are kept as durations since

	gen  atomic.Uint64 // the newest batch started; 0 before the first
	sent [flushRing]flushSlot
}

// flushSlot is one batch's departure, written by the flusher and read by
// feedback from any goroutine, without a lock: gen is cleared while at is
// written, and a reader checks that gen was the same before and after.
type flushSlot struct {
	gen atomic.Uint64 // the generation + 1; 0 while being written
	at  atomic.Int64  // since flushClock.base, ns
}

func newFlushClock(now func() time.Time) *flushClock {
	return &flushClock{now: now, base: now()}
}

// newest returns the generation of the batch started last, into which the
// packet just written went.
func (f *flushClock) newest() uint64 { return f.gen.Load() }

// start numbers a batch that begins to be filled. The socket calls it
// under its lock.
func (f *flushClock) start() uint64 { return f.gen.Add(1) }

// flushed records that batch gen is being handed to the kernel now.
func (f *flushClock) flushed(gen uint64) {
	s := &f.sent[gen%flushRing]
	s.gen.Store(0)
	s.at.Store(int64(f.now().Sub(f.base)))
	s.gen.Store(gen + 1)
}

// departure returns when batch gen was sent, if it has been and is still
// remembered.
func (f *flushClock) departure(gen uint64) (time.Time, bool) {
	s := &f.sent[gen%flushRing]
	g := s.gen.Load()
	at := s.at.Load()
	if g != gen+1 || s.gen.Load() != g {
		return time.Time{}, false
	}
	return f.base.Add(time.Duration(at)), true
}
