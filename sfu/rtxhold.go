package sfu

import "time"

// Retransmissions, at most one per round trip. A receiver asks again for
// a packet still missing every NACK interval (20 ms for the Go client,
// 100 ms for pion's generator), sooner than a retransmission can arrive
// over a link whose queue is long. Answering every request sends each
// lost packet several times into a link that lost it because it was full,
// and keeps it full: on a 250 kbit/s link the lowest layer lost 8% for
// seconds after stepping down, while 616 retransmissions went out.
// libwebrtc's sender retransmits a packet at most once per round-trip
// time. The SFU knows the subscriber link's queue from the transport-wide
// feedback, the part of the round trip that grows: a packet is sent again
// only rtxHoldMin plus that queue after it was last sent again, when the
// previous retransmission should have arrived.
const rtxHoldMin = 50 * time.Millisecond

// rtxMarkRing is how many packets' last retransmissions are remembered,
// by outgoing sequence number: more than a NACK reaches back to.
const rtxMarkRing = 512

// rtxMarks remembers when a DownTrack last retransmitted its recent
// packets. It has no lock of its own: the DownTrack's rtxMu guards it.
type rtxMarks struct {
	seq [rtxMarkRing]uint16
	at  [rtxMarkRing]int64 // UnixNano; 0: none
}

// allow reports whether packet seq may be retransmitted at now, hold
// after its last retransmission, and if so records that it is.
func (m *rtxMarks) allow(seq uint16, now time.Time, hold time.Duration) bool {
	i := seq % rtxMarkRing
	t := now.UnixNano()
	if m.at[i] != 0 && m.seq[i] == seq && t-m.at[i] < int64(hold) {
		return false
	}
	m.seq[i], m.at[i] = seq, t
	return true
}
