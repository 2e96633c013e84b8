package sfu

import (
	"maps"
	"slices"
	"testing"
)

// TestUndecodableFor: the SFU's video codecs a client did not list in
// join are the ones it cannot decode; a client that listed nothing is
// taken to decode everything.
func TestUndecodableFor(t *testing.T) {
	for _, tc := range []struct {
		decodes []string
		want    []string
	}{
		{nil, nil},
		{[]string{"video/VP8", "video/VP9", "video/H264"}, nil},
		{[]string{"video/vp9", "video/AV1"}, []string{"video/h264", "video/vp8"}},
		{[]string{}, []string{"video/h264", "video/vp8", "video/vp9"}},
	} {
		got := slices.Sorted(maps.Keys(undecodableFor(tc.decodes)))
		if !slices.Equal(got, tc.want) {
			t.Errorf("undecodableFor(%q) = %q, want %q", tc.decodes, got, tc.want)
		}
	}
}

// TestCommonVideoCodec: a room picks the first of VP8, VP9, H.264 that
// no member is known not to decode.
func TestCommonVideoCodec(t *testing.T) {
	for _, tc := range []struct {
		noDecode []map[string]bool
		want     string
	}{
		{nil, "video/VP8"},
		{[]map[string]bool{nil, {"video/h264": true}}, "video/VP8"},
		{[]map[string]bool{{"video/vp8": true}}, "video/VP9"},
		{[]map[string]bool{{"video/vp8": true}, {"video/vp9": true}}, "video/H264"},
		{[]map[string]bool{{"video/vp8": true, "video/vp9": true, "video/h264": true}}, ""},
	} {
		r := &Room{members: map[string]*member{}}
		for i, nd := range tc.noDecode {
			r.members[string(rune('a'+i))] = &member{noDecode: nd}
		}
		got, ok := r.commonVideoCodecLocked()
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("members not decoding %v: %q, %v; want %q", tc.noDecode, got, ok, tc.want)
		}
	}
}
