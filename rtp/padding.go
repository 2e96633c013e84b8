package rtp

import "encoding/binary"

// Padding returns the length of the payload of pkt, a raw RTP packet, once
// the fixed header, CSRC list, header extension and padding are removed
// (RFC 3550, 5.1 and 5.3.1). A length of 0 marks a padding-only packet,
// such as a bandwidth probe, which the SFU does not forward.
//
// ok is false if pkt is malformed: shorter than its header, not version 2,
// or with a padding count of zero or longer than the payload. Padding does
// not allocate.
func Padding(pkt []byte) (payloadLen int, ok bool) {
	if len(pkt) < rtpHeaderSize || pkt[0]>>6 != 2 {
		return 0, false
	}
	off := rtpHeaderSize + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // X: profile (16 bits), length in words (16 bits)
		if len(pkt) < off+4 {
			return 0, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	if len(pkt) < off {
		return 0, false
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 { // P: the last byte counts the padding, itself included
		if end == off {
			return 0, false
		}
		pad := int(pkt[end-1])
		if pad == 0 || pad > end-off {
			return 0, false
		}
		end -= pad
	}
	return end - off, true
}
