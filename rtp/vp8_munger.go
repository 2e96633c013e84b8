package rtp

// VP8Munger rewrites the picture ID and TL0PICIDX of the VP8 payload
// descriptor (RFC 7741 section 4.2) of one forwarded stream, so that they
// continue across source switches. Each simulcast layer numbers its
// pictures on its own; a receiver that sees the numbers jump back at a
// layer switch takes the new pictures for old ones and stops showing video
// without asking for anything.
//
// Only 15-bit picture IDs are rewritten (browsers send those); a stream
// with 7-bit IDs or none passes through unchanged. A VP8Munger is not safe
// for concurrent use.
type VP8Munger struct {
	started   bool
	pending   bool   // the next packet starts a new source
	picOffset uint16 // out - in, mod 2^15
	tl0Offset uint8
	lastPic   uint16 // newest picture ID sent
	lastTL0   uint8
}

// Switch makes the next munged packet start a new source.
func (m *VP8Munger) Switch() { m.pending = true }

// vp8Descriptor locates the fields of a VP8 payload descriptor.
type vp8Descriptor struct {
	picPos, tl0Pos int // -1 when absent
	pic            uint16
	tl0            uint8
}

func parseVP8Descriptor(p []byte) (vp8Descriptor, bool) {
	d := vp8Descriptor{picPos: -1, tl0Pos: -1}
	if len(p) < 1 {
		return d, false
	}
	if p[0]&0x80 == 0 {
		return d, true // no extension: nothing to rewrite
	}
	if len(p) < 2 {
		return d, false
	}
	x, i := p[1], 2
	if x&0x80 != 0 { // I: picture ID
		if len(p) < i+1 {
			return d, false
		}
		if p[i]&0x80 != 0 {
			if len(p) < i+2 {
				return d, false
			}
			d.picPos, d.pic = i, uint16(p[i]&0x7f)<<8|uint16(p[i+1])
			i += 2
		} else {
			i++ // 7-bit picture ID: left as it is
		}
	}
	if x&0x40 != 0 { // L: TL0PICIDX
		if len(p) < i+1 {
			return d, false
		}
		d.tl0Pos, d.tl0 = i, p[i]
		i++
	}
	if x&0x30 != 0 { // T or K
		i++
	}
	return d, len(p) >= i
}

// Munge rewrites payload's descriptor into dst (which must hold the
// payload) and returns the bytes to send: payload itself when there is
// nothing to rewrite. advance is false for a retransmission, which must be
// rewritten like the original without moving the stream on. It returns
// nil for a malformed descriptor.
func (m *VP8Munger) Munge(dst, payload []byte, advance bool) []byte {
	d, ok := parseVP8Descriptor(payload)
	if !ok {
		return nil
	}
	if d.picPos < 0 && d.tl0Pos < 0 {
		return payload
	}
	if advance && (!m.started || m.pending) {
		if m.started {
			m.picOffset = (m.lastPic + 1 - d.pic) & 0x7fff
			m.tl0Offset = m.lastTL0 + 1 - d.tl0
		} else {
			// The first packet is the newest so far, wherever its
			// numbers start: note keeps only numbers ahead of the last,
			// and from 0 half of the starting values look behind.
			m.lastPic, m.lastTL0 = d.pic, d.tl0
		}
		m.started, m.pending = true, false
	}
	if m.picOffset == 0 && m.tl0Offset == 0 {
		if advance {
			m.note(d.pic, d.tl0)
		}
		return payload
	}
	if len(dst) < len(payload) {
		return nil
	}
	n := copy(dst, payload)
	pic := (d.pic + m.picOffset) & 0x7fff
	tl0 := d.tl0 + m.tl0Offset
	if d.picPos >= 0 {
		dst[d.picPos] = 0x80 | byte(pic>>8)
		dst[d.picPos+1] = byte(pic)
	}
	if d.tl0Pos >= 0 {
		dst[d.tl0Pos] = tl0
	}
	if advance {
		m.note(d.pic, d.tl0)
	}
	return dst[:n]
}

// note records the output numbers of a packet just sent, keeping the
// newest (the difference is read modulo the field's size).
func (m *VP8Munger) note(inPic uint16, inTL0 uint8) {
	pic := (inPic + m.picOffset) & 0x7fff
	if diff := (pic - m.lastPic) & 0x7fff; diff < 0x4000 {
		m.lastPic = pic
	}
	tl0 := inTL0 + m.tl0Offset
	if diff := tl0 - m.lastTL0; diff < 0x80 {
		m.lastTL0 = tl0
	}
}
