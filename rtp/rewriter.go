package rtp

// Rewriter maps the sequence numbers and timestamps of one forwarded stream
// into the subscriber's own continuous space.
//
// The source of a forwarded stream may change, for example on a simulcast
// layer switch, but the subscriber must see one stream whose sequence
// numbers have no holes and whose timestamps move forward. The first packet
// of each source anchors a pair of offsets so that its output follows the
// last packet sent; later packets of the same source, including reordered
// ones, apply the same offsets, so the mapping is consistent without a
// reorder buffer.
//
// Packets of a new source that were sent before its anchoring packet would
// map onto sequence numbers already used by the previous source; callers
// should drop them (compare extended sequence numbers against the anchor).
//
// A Rewriter is not safe for concurrent use; callers hold their own lock.
type Rewriter struct {
	firstSeq uint16 // output of the very first packet
	firstTS  uint32

	started bool   // a packet has been rewritten
	pending bool   // Switch was called; the next Rewrite anchors a new source
	tsGap   uint32 // timestamp step to apply at the pending switch

	seqOffset uint16 // outSeq - seq for the current source
	tsOffset  uint32 // outTS - ts for the current source

	highestOut uint64 // extended highest output sequence number sent
	highestTS  uint32 // output timestamp of the packet at highestOut
	sourceOut  uint64 // extended output sequence number of the current source's anchor
}

// NewRewriter returns a Rewriter whose first output packet carries firstSeq
// and firstTS. Callers pick random starting values (RFC 3550, 5.1).
func NewRewriter(firstSeq uint16, firstTS uint32) *Rewriter {
	return &Rewriter{firstSeq: firstSeq, firstTS: firstTS}
}

// Rewrite returns the outgoing sequence number and timestamp of the
// incoming packet (seq, ts).
//
// The first call, and the first call after Switch, anchors the offsets: the
// very first packet gets the starting values given to NewRewriter, and the
// first packet after a switch gets the last sent sequence number plus one
// and the last sent timestamp plus the gap given to Switch.
func (r *Rewriter) Rewrite(seq uint16, ts uint32) (outSeq uint16, outTS uint32) {
	if !r.started || r.pending {
		r.anchor(seq, ts)
	}
	outSeq = seq + r.seqOffset
	outTS = ts + r.tsOffset

	delta := int16(outSeq - uint16(r.highestOut))
	ext := uint64(int64(r.highestOut) + int64(delta))
	if ext > r.highestOut {
		r.highestOut = ext
		r.highestTS = outTS
	}
	return outSeq, outTS
}

// anchor sets the offsets so that (seq, ts) continues the output space.
func (r *Rewriter) anchor(seq uint16, ts uint32) {
	var outSeq uint16
	var outTS uint32
	if !r.started {
		outSeq, outTS = r.firstSeq, r.firstTS
		// Start the extended count one below, with room for late packets.
		r.highestOut = 1<<16 + uint64(outSeq) - 1
		r.highestTS = outTS - 1
	} else {
		outSeq = uint16(r.highestOut) + 1
		outTS = r.highestTS + max(r.tsGap, 1)
	}
	r.seqOffset = outSeq - seq
	r.tsOffset = outTS - ts
	r.sourceOut = r.highestOut + 1
	r.started = true
	r.pending = false
}

// Switch makes the next Rewrite start a new source. Its first packet's
// timestamp will be tsGap after the last one sent; a gap of 0 is treated
// as 1 so that timestamps always move forward.
func (r *Rewriter) Switch(tsGap uint32) {
	r.pending = true
	r.tsGap = tsGap
}

// Reverse maps an outgoing sequence number back to the incoming sequence
// number of the current source, for answering NACKs from that source's
// packet cache.
//
// ok is false if outSeq has not been sent yet, was sent before the current
// source began, or a Switch is pending.
func (r *Rewriter) Reverse(outSeq uint16) (seq uint16, ok bool) {
	if !r.started || r.pending {
		return 0, false
	}
	delta := int16(outSeq - uint16(r.highestOut))
	ext := uint64(int64(r.highestOut) + int64(delta))
	if ext > r.highestOut || ext < r.sourceOut {
		return 0, false
	}
	return outSeq - r.seqOffset, true
}

// Started reports whether a packet has been rewritten.
func (r *Rewriter) Started() bool {
	return r.started
}

// LastOut returns the highest outgoing sequence number sent and its
// timestamp. Before the first Rewrite it returns the values just below the
// starting ones.
func (r *Rewriter) LastOut() (seq uint16, ts uint32) {
	if !r.started {
		return r.firstSeq - 1, r.firstTS - 1
	}
	return uint16(r.highestOut), r.highestTS
}

// Forward is Rewrite for a packet about to be sent. It reports ok=false,
// and changes nothing, for a packet of the current source older than the
// packet that anchored it: its output number was already used by the
// previous source, so it must be dropped.
func (r *Rewriter) Forward(seq uint16, ts uint32) (outSeq uint16, outTS uint32, ok bool) {
	if r.started && !r.pending {
		out := seq + r.seqOffset
		delta := int16(out - uint16(r.highestOut))
		ext := uint64(int64(r.highestOut) + int64(delta))
		if ext < r.sourceOut {
			return 0, 0, false
		}
	}
	outSeq, outTS = r.Rewrite(seq, ts)
	return outSeq, outTS, true
}
