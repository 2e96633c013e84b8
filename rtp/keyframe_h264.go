package rtp

import "encoding/binary"

// H.264 NAL unit types (ITU-T H.264, Table 7-1, and RFC 6184, 5.2).
const (
	h264NALIDR   = 5
	h264NALSPS   = 7
	h264NALSTAPA = 24
	h264NALFUA   = 28
)

// isH264Keyframe reports whether an RFC 6184 payload holds the start of an
// IDR picture or a sequence parameter set, which precedes one.
func isH264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23: // single NAL unit packet (RFC 6184, 5.6)
		return h264KeyNAL(t)
	case t == h264NALSTAPA:
		// STAP-A (RFC 6184, 5.7.1): a sequence of 16-bit size, NAL unit.
		for i := 1; i+2 < len(p); {
			size := int(binary.BigEndian.Uint16(p[i:]))
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if h264KeyNAL(p[i] & 0x1f) {
				return true
			}
			i += size
		}
	case t == h264NALFUA:
		// FU-A (RFC 6184, 5.8): FU indicator, then |S|E|R| Type |.
		return len(p) >= 2 && p[1]&0x80 != 0 && h264KeyNAL(p[1]&0x1f)
	}
	return false
}

// h264KeyNAL reports whether a NAL unit type starts a keyframe.
func h264KeyNAL(t byte) bool {
	return t == h264NALIDR || t == h264NALSPS
}
