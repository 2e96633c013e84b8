package rtp

// SeqUnwrapper extends 16-bit RTP sequence numbers to 64 bits so that
// wrap-around from 65535 to 0 keeps counting upwards.
//
// A sequence number is placed at the extended value nearest to the highest
// one seen so far, so a late packet slightly before the highest maps below
// it, even across a wrap. The first value maps to 1<<16 + seq, which leaves
// room below it for packets that arrive late and were sent before it; the
// result is therefore never below 32768 and never zero.
//
// The zero value is ready to use. A SeqUnwrapper is not safe for concurrent
// use.
type SeqUnwrapper struct {
	highest uint64 // highest extended sequence number seen; 0 before the first
}

// Unwrap returns the extended sequence number of seq.
//
// See RFC 3550, Appendix A.1, for the sequence number arithmetic.
func (u *SeqUnwrapper) Unwrap(seq uint16) uint64 {
	if u.highest == 0 {
		u.highest = 1<<16 + uint64(seq)
		return u.highest
	}
	// The signed 16-bit distance picks the nearest candidate: forward by up
	// to 32767 is newer, anything else is older.
	delta := int16(seq - uint16(u.highest))
	ext := uint64(int64(u.highest) + int64(delta))
	if ext > u.highest {
		u.highest = ext
	}
	return ext
}

// Highest returns the highest extended sequence number seen so far, or 0
// if Unwrap has not been called yet.
func (u *SeqUnwrapper) Highest() uint64 {
	return u.highest
}
