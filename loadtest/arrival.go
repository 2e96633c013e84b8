package loadtest

import (
	"sync/atomic"
	"time"
)

// arrivalStamps keep when the kernel received each recent RTP packet that
// a subscriber connection's socket hands up to pion, by SSRC and sequence
// number (SO_TIMESTAMPNS, read with the packet in groConn), until the
// receiver counts the packet. Packets the srtpTap takes carry their
// receive time with them.
//
// One harness process runs hundreds of clients on a core or two, so a
// packet may wait in its socket, or between pion's goroutines, while the
// harness works on other clients' packets. A browser has only its own.
// Latency, jitter and the arrival times sent back in congestion control
// feedback are taken from the kernel's stamp, so that they measure the
// path through the SFU and not the harness's queue: its own waits would
// otherwise look to the SFU's estimator like a congested link.
type arrivalStamps struct {
	slots [arrivalSlots]arrivalSlot
}

// arrivalSlot is one packet's receive time, without a lock: a socket
// reader writes it and the receiver takes it. key is 0 while a write is
// under way. The writer is the subscriber connection's socket reader (a
// publisher connection receives no RTP), so writes to a slot do not
// overlap.
type arrivalSlot struct {
	key atomic.Uint64 // ssrc<<32 | seq<<16 | 1
	at  atomic.Int64  // Unix ns
}

// arrivalSlots is how many packets the stamps remember: many more than
// are ever between a client's socket and its receiver at once.
const arrivalSlots = 1024

func arrivalKey(ssrc uint32, seq uint16) uint64 { return uint64(ssrc)<<32 | uint64(seq)<<16 | 1 }

func (a *arrivalStamps) slot(ssrc uint32, seq uint16) *arrivalSlot {
	return &a.slots[(uint32(seq)+ssrc*2654435761)&(arrivalSlots-1)]
}

// put records that packet seq of ssrc arrived at unixNano.
func (a *arrivalStamps) put(ssrc uint32, seq uint16, unixNano int64) {
	s := a.slot(ssrc, seq)
	s.key.Store(0)
	s.at.Store(unixNano)
	s.key.Store(arrivalKey(ssrc, seq))
}

// take returns when packet seq of ssrc arrived and forgets it; it reports
// false without a stamp for it (a packet read otherwise, or pushed out by
// later ones).
func (a *arrivalStamps) take(ssrc uint32, seq uint16) (time.Time, bool) {
	s := a.slot(ssrc, seq)
	k := arrivalKey(ssrc, seq)
	if s.key.Load() != k {
		return time.Time{}, false
	}
	at := s.at.Load()
	// Still k: no other packet's write began since at was read.
	if !s.key.CompareAndSwap(k, 0) {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

// stampRTP records the arrival of the datagram b if it is an RTP packet
// (RFC 5761: not RTCP, whose packet types 200-206 read as RTP payload
// types 72-78), and ignores anything else: STUN, DTLS, RTCP.
func (a *arrivalStamps) stampRTP(b []byte, unixNano int64) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
		return
	}
	a.put(uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11]), uint16(b[2])<<8|uint16(b[3]), unixNano)
}
