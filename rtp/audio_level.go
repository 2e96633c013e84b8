package rtp

// AudioLevel parses the payload of an audio level header extension
// (RFC 6464, 3): one byte holding the voice activity flag V and the level
// in -dBov, 0 (loudest) to 127 (silence).
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|V| level       |
//	+-+-+-+-+-+-+-+-+
//
// ok is false if ext is empty. Bytes after the first are ignored, since the
// two-byte header form may pad the element.
func AudioLevel(ext []byte) (level uint8, voice bool, ok bool) {
	if len(ext) < 1 {
		return 0, false, false
	}
	return ext[0] & 0x7f, ext[0]&0x80 != 0, true
}
