package rtp

// IsKeyframe reports whether payload, the RTP payload of one packet of the
// given codec, is the first packet of a keyframe, one from which a decoder
// can start. It never panics: short or malformed payloads are not
// keyframes. Audio and unknown codecs have no keyframes and always return
// false.
func IsKeyframe(codec Codec, payload []byte) bool {
	switch codec {
	case CodecVP8:
		return isVP8Keyframe(payload)
	case CodecVP9:
		return isVP9Keyframe(payload)
	case CodecH264:
		return isH264Keyframe(payload)
	case CodecAV1:
		return isAV1Keyframe(payload)
	}
	return false
}

// isVP8Keyframe parses the payload descriptor of RFC 7741, 4.2, and the
// start of the VP8 frame header (RFC 6386, 9.1).
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|X|R|N|S|R| PID |  required
//	|I|L|T|K| RSV   |  if X
//	|M| PictureID   |  if I; a second byte if M
//	|   TL0PICIDX   |  if L
//	|TID|Y| KEYIDX  |  if T or K
//	|Size0|H| VER |P|  VP8 payload header, P = 0 on keyframes
func isVP8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	// Only the first packet of the first partition carries the frame header.
	if p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) <= i {
			return false
		}
		x := p[i]
		i++
		if x&0x80 != 0 { // I: PictureID, 15 bits if M
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0
}

// isAV1Keyframe reads the aggregation header of the AV1 RTP payload format
// (https://aomediacodec.github.io/av1-rtp-spec/, 4.4):
//
//	|Z|Y| W |N|-|-|-|
//
// N is set on the first packet of a coded video sequence, which starts with
// a keyframe; Z must be clear since that packet cannot continue an OBU.
func isAV1Keyframe(p []byte) bool {
	return len(p) >= 2 && p[0]&0x80 == 0 && p[0]&0x08 != 0
}
