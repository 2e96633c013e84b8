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
// Pad inserts padding-only packets into the output. The source's later
// packets move up past the padding, but its late packets (reordered or
// retransmitted by the publisher) keep the numbers they had before, which
// the padding would otherwise take; for that the Rewriter remembers the
// last padHistory pad points of the current source.
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

	// pads are the current source's pad points, oldest first, in a ring
	// of which nPads are used from padHead. padTotal is the padding
	// inserted since the source began: the current offset less the
	// anchor's. lost is the first output number after the padding of the
	// newest pad point that fell out of the ring (0: none fell out):
	// packets mapped below it cannot be told apart any more.
	pads     [padHistory]padPoint
	padHead  int
	nPads    int
	padTotal uint64
	lost     uint64
}

// padHistory is how many pad points a Rewriter remembers. Probes pad at
// most once per frame for under a second, so this spans one probe.
const padHistory = 64

// padPoint is one run of padding in the output.
type padPoint struct {
	out   uint64 // extended output sequence number of the first padding packet
	n     uint64 // padding packets
	total uint64 // padTotal once this run was added
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
	ext, _ := r.mapSeq(seq)
	outSeq = uint16(ext)
	outTS = ts + r.tsOffset
	if ext > r.highestOut {
		r.highestOut = ext
		r.highestTS = outTS
	}
	return outSeq, outTS
}

// mapSeq returns the extended output sequence number of the current
// source's packet seq: with the current offset if it is newer than the
// last pad point, else with the offset it had when it was first sent.
// known is false if it is older than a pad point that fell out of the
// history.
func (r *Rewriter) mapSeq(seq uint16) (ext uint64, known bool) {
	ext = r.extend(seq + r.seqOffset)
	if r.nPads == 0 {
		return ext, true
	}
	// Pad point k moved the numbers of packets newer than the one just
	// before its padding (at pads[k].out-1 then) up by pads[k].n; in
	// today's offsets that packet is at pads[k].out-1 plus the padding
	// added since, including k's.
	shift := uint64(0)
	for i := r.nPads - 1; i >= 0; i-- {
		p := &r.pads[(r.padHead+i)%padHistory]
		since := r.padTotal - p.total + p.n
		if ext > p.out-1+since {
			break
		}
		shift = since
	}
	ext -= shift
	return ext, r.lost == 0 || ext >= r.lost
}

// extend turns an output sequence number into the extended one nearest
// the highest sent.
func (r *Rewriter) extend(out uint16) uint64 {
	delta := int16(out - uint16(r.highestOut))
	return uint64(int64(r.highestOut) + int64(delta))
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
	r.clearPads()
	r.started = true
	r.pending = false
}

// Switch makes the next Rewrite start a new source. Its first packet's
// timestamp will be tsGap after the last one sent; a gap of 0 is treated
// as 1 so that timestamps always move forward.
func (r *Rewriter) Switch(tsGap uint32) {
	r.pending = true
	r.tsGap = tsGap
	r.clearPads()
}

func (r *Rewriter) clearPads() {
	r.padHead, r.nPads, r.padTotal, r.lost = 0, 0, 0, 0
}

// Pad reserves n output sequence numbers for padding-only packets right
// after the highest sent, all with the timestamp of that packet, and
// returns the first. The current source's packets newer than any
// forwarded so far follow the padding; older ones keep the numbers they
// had. ok is false, and nothing changes, before the first Rewrite, while
// a Switch is pending, or if n < 1.
func (r *Rewriter) Pad(n int) (first uint16, ts uint32, ok bool) {
	if !r.started || r.pending || n < 1 {
		return 0, 0, false
	}
	out := r.highestOut + 1
	r.seqOffset += uint16(n)
	r.padTotal += uint64(n)
	r.highestOut += uint64(n)
	if r.nPads > 0 {
		last := &r.pads[(r.padHead+r.nPads-1)%padHistory]
		if last.out+last.n == out { // nothing sent since: one run
			last.n += uint64(n)
			last.total = r.padTotal
			return uint16(out), r.highestTS, true
		}
	}
	if r.nPads == padHistory {
		old := &r.pads[r.padHead]
		r.lost = old.out + old.n
		r.padHead = (r.padHead + 1) % padHistory
		r.nPads--
	}
	r.pads[(r.padHead+r.nPads)%padHistory] = padPoint{out: out, n: uint64(n), total: r.padTotal}
	r.nPads++
	return uint16(out), r.highestTS, true
}

// Padded reports whether outSeq was one of the current source's padding
// packets, which no packet cache holds: a NACK for it needs no answer.
func (r *Rewriter) Padded(outSeq uint16) bool {
	if !r.started || r.pending {
		return false
	}
	ext := r.extend(outSeq)
	for i := r.nPads - 1; i >= 0; i-- {
		p := &r.pads[(r.padHead+i)%padHistory]
		if ext >= p.out+p.n {
			return false
		}
		if ext >= p.out {
			return true
		}
	}
	return false
}

// Reverse maps an outgoing sequence number back to the incoming sequence
// number of the current source, for answering NACKs from that source's
// packet cache.
//
// ok is false if outSeq has not been sent yet, was sent before the current
// source began, was padding (see Padded), is older than the pad points
// remembered, or a Switch is pending.
func (r *Rewriter) Reverse(outSeq uint16) (seq uint16, ok bool) {
	if !r.started || r.pending {
		return 0, false
	}
	ext := r.extend(outSeq)
	if ext > r.highestOut || ext < r.sourceOut {
		return 0, false
	}
	// Walk back to the run of padding just below ext: the offset then
	// was today's less the padding added after that run.
	shift := uint64(0)
	for i := r.nPads - 1; i >= 0; i-- {
		p := &r.pads[(r.padHead+i)%padHistory]
		if ext >= p.out+p.n {
			break
		}
		if ext >= p.out {
			return 0, false
		}
		shift = r.padTotal - p.total + p.n
	}
	if r.lost != 0 && ext < r.lost {
		return 0, false
	}
	return outSeq - r.seqOffset + uint16(shift), true
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
//
// It also refuses a late packet older than the pad points remembered, as
// its number can no longer be told.
func (r *Rewriter) Forward(seq uint16, ts uint32) (outSeq uint16, outTS uint32, ok bool) {
	if r.started && !r.pending {
		ext, known := r.mapSeq(seq)
		if !known || ext < r.sourceOut {
			return 0, 0, false
		}
	}
	outSeq, outTS = r.Rewrite(seq, ts)
	return outSeq, outTS, true
}
