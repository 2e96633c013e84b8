package rtp

import (
	"encoding/binary"
	"sync"
)

const (
	// MaxPacketSize is the size of one PacketCache slot. Longer packets are
	// not stored.
	MaxPacketSize = 1500

	// maxCacheSlots bounds the cache so that no two packets in the window
	// share their low 16 bits, which Get relies on.
	maxCacheSlots = 1 << 15

	// rtpHeaderSize is the size of the fixed RTP header (RFC 3550, 5.1).
	rtpHeaderSize = 12
)

// PacketCache keeps the most recent packets of one incoming RTP stream so
// that the SFU can answer NACKs (RFC 4585, 6.2.1) with retransmissions.
//
// Packets are stored by extended sequence number in a ring of fixed-size
// slots preallocated in one backing array, so Add and Get do not allocate.
// The window is the last Len() extended sequence numbers up to the highest
// one added.
//
// A PacketCache is safe for concurrent use: it is meant for one writer (the
// track's reader) and many readers (the NACK responders).
type PacketCache struct {
	mask uint64 // len(slots) - 1

	mu       sync.Mutex
	unwrap   SeqUnwrapper // guarded by mu
	buf      []byte       // guarded by mu; len(slots) * MaxPacketSize bytes
	slotExt  []uint64     // guarded by mu; extended seq in each slot, 0 if empty
	slotSize []uint16     // guarded by mu; packet length in each slot
}

// NewPacketCache returns a cache of size slots. The size is rounded up to a
// power of two and clamped to between 1 and 32768.
func NewPacketCache(size int) *PacketCache {
	n := 1
	for n < size && n < maxCacheSlots {
		n <<= 1
	}
	return &PacketCache{
		mask:     uint64(n - 1),
		buf:      make([]byte, n*MaxPacketSize),
		slotExt:  make([]uint64, n),
		slotSize: make([]uint16, n),
	}
}

// Len returns the capacity of the cache in slots.
func (c *PacketCache) Len() int {
	return len(c.slotExt)
}

// Add stores a copy of pkt, a complete raw RTP packet, and returns its
// extended sequence number.
//
// ok is false, and nothing else is meaningful, if pkt is shorter than an
// RTP header or its version is not 2. dup is true if the cache already
// holds a packet with the same extended sequence number; the copy is then
// not stored. A packet that is older than the window, or longer than
// MaxPacketSize, is reported with ok true and dup false but not stored.
func (c *PacketCache) Add(pkt []byte) (ext uint64, dup bool, ok bool) {
	if len(pkt) < rtpHeaderSize || pkt[0]>>6 != 2 {
		return 0, false, false
	}
	seq := binary.BigEndian.Uint16(pkt[2:4])

	c.mu.Lock()
	defer c.mu.Unlock()

	ext = c.unwrap.Unwrap(seq)
	slot := ext & c.mask
	if c.slotExt[slot] == ext {
		return ext, true, true
	}
	if ext+uint64(len(c.slotExt)) <= c.unwrap.Highest() || len(pkt) > MaxPacketSize {
		return ext, false, true
	}
	off := int(slot) * MaxPacketSize
	copy(c.buf[off:off+MaxPacketSize], pkt)
	c.slotExt[slot] = ext
	c.slotSize[slot] = uint16(len(pkt))
	return ext, false, true
}

// Get copies the packet with sequence number seq into dst and returns its
// length. It returns 0 if the packet is not in the window, or if dst is too
// short to hold it; a dst of MaxPacketSize bytes is always long enough.
//
// Of all extended sequence numbers with the low 16 bits seq, Get looks up
// the most recent one that is not above the highest packet added.
func (c *PacketCache) Get(seq uint16, dst []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()

	highest := c.unwrap.Highest()
	if highest == 0 {
		return 0
	}
	ext := highest - uint64(uint16(highest)-seq)
	if ext+uint64(len(c.slotExt)) <= highest {
		return 0
	}
	slot := ext & c.mask
	if c.slotExt[slot] != ext {
		return 0
	}
	n := int(c.slotSize[slot])
	if len(dst) < n {
		return 0
	}
	off := int(slot) * MaxPacketSize
	return copy(dst, c.buf[off:off+n])
}
