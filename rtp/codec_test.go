package rtp

import "testing"

func TestCodecFromMime(t *testing.T) {
	tests := []struct {
		mime string
		want Codec
	}{
		{"video/VP8", CodecVP8},
		{"video/vp8", CodecVP8},
		{"VIDEO/VP8", CodecVP8},
		{"video/VP9", CodecVP9},
		{"video/H264", CodecH264},
		{"video/h264", CodecH264},
		{"audio/opus", CodecOpus},
		{"audio/OPUS", CodecOpus},
		{"video/AV1", CodecAV1},
		{"video/av1", CodecAV1},
		{"video/H265", CodecUnknown},
		{"audio/VP8", CodecUnknown},
		{"VP8", CodecUnknown},
		{"video/VP8 ", CodecUnknown},
		{"", CodecUnknown},
	}
	for _, tt := range tests {
		if got := CodecFromMime(tt.mime); got != tt.want {
			t.Errorf("CodecFromMime(%q) = %v, want %v", tt.mime, got, tt.want)
		}
	}
}

func TestCodecString(t *testing.T) {
	tests := []struct {
		c    Codec
		want string
	}{
		{CodecUnknown, "unknown"},
		{CodecVP8, "video/VP8"},
		{CodecOpus, "audio/opus"},
		{CodecAV1, "video/AV1"},
		{Codec(99), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Codec(%d).String() = %q, want %q", tt.c, got, tt.want)
		}
		if back := CodecFromMime(tt.c.String()); tt.want != "unknown" && back != tt.c {
			t.Errorf("CodecFromMime(%q) = %v, want %v", tt.want, back, tt.c)
		}
	}
}

func TestCodecIsVideo(t *testing.T) {
	tests := []struct {
		c    Codec
		want bool
	}{
		{CodecUnknown, false}, {CodecVP8, true}, {CodecVP9, true},
		{CodecH264, true}, {CodecOpus, false}, {CodecAV1, true},
	}
	for _, tt := range tests {
		if got := tt.c.IsVideo(); got != tt.want {
			t.Errorf("%v.IsVideo() = %v, want %v", tt.c, got, tt.want)
		}
	}
}
