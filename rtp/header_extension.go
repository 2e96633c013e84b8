package rtp

import "encoding/binary"

// HeaderExtension returns the value of the header extension with the given
// id in pkt, a raw RTP packet, in either the one-byte (RFC 8285, 4.2) or
// the two-byte form (4.3), or nil if pkt has none with that id or is
// malformed. The value aliases pkt. HeaderExtension does not allocate: it
// reads one extension without unmarshalling the whole header.
func HeaderExtension(pkt []byte, id uint8) []byte {
	if len(pkt) < rtpHeaderSize || pkt[0]>>6 != 2 || pkt[0]&0x10 == 0 || id == 0 {
		return nil
	}
	off := rtpHeaderSize + 4*int(pkt[0]&0x0f)
	if len(pkt) < off+4 {
		return nil
	}
	profile := binary.BigEndian.Uint16(pkt[off:])
	words := int(binary.BigEndian.Uint16(pkt[off+2:]))
	ext := pkt[off+4:]
	if len(ext) < 4*words {
		return nil
	}
	ext = ext[:4*words]
	switch {
	case profile == 0xBEDE:
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding between elements
				i++
				continue
			}
			eid, n := ext[i]>>4, int(ext[i]&0x0f)+1
			if eid == 15 { // reserved: stop reading (RFC 8285, 4.2)
				return nil
			}
			if i+1+n > len(ext) {
				return nil
			}
			if eid == id {
				return ext[i+1 : i+1+n]
			}
			i += 1 + n
		}
	case profile&0xfff0 == 0x1000:
		for i := 0; i < len(ext); {
			if ext[i] == 0 {
				i++
				continue
			}
			if i+2 > len(ext) {
				return nil
			}
			eid, n := ext[i], int(ext[i+1])
			if i+2+n > len(ext) {
				return nil
			}
			if eid == id {
				return ext[i+2 : i+2+n]
			}
			i += 2 + n
		}
	}
	return nil
}
