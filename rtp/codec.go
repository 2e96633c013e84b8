package rtp

import "strings"

// Codec identifies the payload format of a stream, as far as per-packet
// processing needs to know it.
type Codec uint8

// The codecs the SFU knows how to inspect.
const (
	CodecUnknown Codec = iota
	CodecVP8
	CodecVP9
	CodecH264
	CodecOpus
	CodecAV1
)

// codecMimes lists the MIME type of each codec, indexed by Codec.
var codecMimes = [...]string{
	CodecUnknown: "",
	CodecVP8:     "video/VP8",
	CodecVP9:     "video/VP9",
	CodecH264:    "video/H264",
	CodecOpus:    "audio/opus",
	CodecAV1:     "video/AV1",
}

// CodecFromMime returns the codec of a MIME type such as "video/VP8",
// compared without regard to case, or CodecUnknown.
func CodecFromMime(mime string) Codec {
	for c, m := range codecMimes {
		if m != "" && strings.EqualFold(mime, m) {
			return Codec(c)
		}
	}
	return CodecUnknown
}

// String returns the codec's MIME type, or "unknown".
func (c Codec) String() string {
	if int(c) < len(codecMimes) && c != CodecUnknown {
		return codecMimes[c]
	}
	return "unknown"
}

// IsVideo reports whether the codec carries video.
func (c Codec) IsVideo() bool {
	switch c {
	case CodecVP8, CodecVP9, CodecH264, CodecAV1:
		return true
	}
	return false
}
