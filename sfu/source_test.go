package sfu

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// TestSourceOf: a relayed track's source is kept when it suits the
// track's kind, and is the kind's default when a node names none, one of
// the other kind, or one this node does not know.
func TestSourceOf(t *testing.T) {
	video, audio := webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio
	for _, tc := range []struct {
		name string
		kind webrtc.RTPCodecType
		want TrackSource
	}{
		{"screen", video, SourceScreen},
		{"camera", video, SourceCamera},
		{"", video, SourceCamera},
		{"hologram", video, SourceCamera},
		{"microphone", video, SourceCamera},
		{"screen_audio", audio, SourceScreenAudio},
		{"", audio, SourceMicrophone},
		{"screen", audio, SourceMicrophone},
	} {
		if got := sourceOf(tc.name, tc.kind); got != tc.want {
			t.Errorf("sourceOf(%q, %s) = %q, want %q", tc.name, tc.kind, got, tc.want)
		}
	}
}
