package rtp

// isVP9Keyframe parses the payload descriptor of RFC 9628, 4.2
// (draft-ietf-payload-vp9). A keyframe starts with a packet that begins a
// frame (B) that is not inter-predicted (P = 0) in the base spatial layer.
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|I|P|L|F|B|E|V|Z|  required
//	|M| PICTURE ID  |  if I; a second byte if M
//	|TID|U| SID |D  |  if L
//	|   TL0PICIDX   |  if L and not F
//	| P_DIFF      |N|  if F and P; up to 3, while N
//	|  SS ...       |  if V
//
// The whole descriptor is skipped so that a packet truncated inside it is
// rejected.
func isVP9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b := p[0]
	if b&0x40 != 0 || b&0x08 == 0 { // P set or B clear
		return false
	}
	i := 1
	if b&0x80 != 0 { // I: PictureID
		if len(p) <= i {
			return false
		}
		if p[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if b&0x20 != 0 { // L: layer indices
		if len(p) <= i {
			return false
		}
		if (p[i]>>1)&0x07 != 0 { // SID
			return false
		}
		i++
		if b&0x10 == 0 { // TL0PICIDX in non-flexible mode
			i++
		}
	}
	// Flexible mode reference indices are present only if P is set, which
	// was ruled out above.
	if b&0x02 != 0 { // V: scalability structure
		n, ok := vp9SSLength(p[min(i, len(p)):])
		if !ok {
			return false
		}
		i += n
	}
	return len(p) > i
}

// vp9SSLength returns the length of the VP9 scalability structure at the
// start of p (RFC 9628, 4.2.1).
//
//	|N_S|Y|G|-|-|-|  N_S + 1 spatial layers
//	| WIDTH, HEIGHT |  4 bytes per spatial layer, if Y
//	|      N_G      |  if G
//	|TID|U| R |-|-|  N_G times, each followed by R P_DIFF bytes
func vp9SSLength(p []byte) (int, bool) {
	if len(p) < 1 {
		return 0, false
	}
	i := 1
	if p[0]&0x10 != 0 { // Y
		i += 4 * (int(p[0]>>5) + 1)
	}
	if p[0]&0x08 != 0 { // G
		if len(p) <= i {
			return 0, false
		}
		groups := int(p[i])
		i++
		for range groups {
			if len(p) <= i {
				return 0, false
			}
			i += 1 + int(p[i]>>2)&0x03
		}
	}
	if len(p) < i {
		return 0, false
	}
	return i, true
}
