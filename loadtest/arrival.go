package loadtest

import (
	"sync"
	"time"
)

// arrivalStamps keep when the kernel received each recent RTP packet of a
// client's connections, by SSRC and sequence number (SO_TIMESTAMPNS, read
// with the packet in groConn), until the receiver counts the packet.
//
// One harness process runs hundreds of clients on a core or two, so a
// packet may wait in its socket, or between pion's goroutines, while the
// harness works on other clients' packets. A browser has only its own.
// Latency, jitter and the arrival times sent back in congestion control
// feedback are taken from the kernel's stamp, so that they measure the
// path through the SFU and not the harness's queue: its own waits would
// otherwise look to the SFU's estimator like a congested link.
type arrivalStamps struct {
	mu    sync.Mutex // guards slots
	slots [arrivalSlots]arrivalSlot
}

type arrivalSlot struct {
	ssrc uint32
	seq  uint16
	at   int64 // Unix ns; 0: empty
}

// arrivalSlots is how many packets the stamps remember: many more than
// are ever between a client's socket and its receiver at once.
const arrivalSlots = 1024

func (a *arrivalStamps) slot(ssrc uint32, seq uint16) *arrivalSlot {
	return &a.slots[(uint32(seq)+ssrc*2654435761)&(arrivalSlots-1)]
}

// put records that packet seq of ssrc arrived at unixNano.
func (a *arrivalStamps) put(ssrc uint32, seq uint16, unixNano int64) {
	a.mu.Lock()
	*a.slot(ssrc, seq) = arrivalSlot{ssrc: ssrc, seq: seq, at: unixNano}
	a.mu.Unlock()
}

// take returns when packet seq of ssrc arrived and forgets it; without a
// stamp for it (a packet read otherwise, or pushed out by later ones) it
// returns now.
func (a *arrivalStamps) take(ssrc uint32, seq uint16, now time.Time) time.Time {
	a.mu.Lock()
	s := a.slot(ssrc, seq)
	at := s.at
	if s.ssrc != ssrc || s.seq != seq || at == 0 {
		a.mu.Unlock()
		return now
	}
	s.at = 0
	a.mu.Unlock()
	if t := time.Unix(0, at); t.Before(now) {
		return t
	}
	return now
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
