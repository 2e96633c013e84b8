package rtp

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp/codecs"
)

// The vectors below are built by hand from the payload formats; each byte
// is annotated with the fields it carries.
var keyframeTests = []struct {
	name    string
	codec   Codec
	payload []byte
	want    bool
}{
	// VP8, RFC 7741. Descriptor first byte: X R N S R PID(3).
	{"vp8 minimal keyframe", CodecVP8, []byte{
		0x10,             // S=1, PID=0
		0x10, 0x02, 0x00, // frame tag: P=0 (key), version 0, show_frame=1
		0x9d, 0x01, 0x2a, // keyframe start code
		0x80, 0x02, 0xe0, 0x01, // 640x480
	}, true},
	{"vp8 interframe", CodecVP8, []byte{0x10, 0x11, 0x02, 0x00}, false}, // P=1
	{"vp8 keyframe continuation", CodecVP8, []byte{0x00, 0x10}, false},  // S=0
	{"vp8 second partition", CodecVP8, []byte{0x11, 0x10}, false},       // S=1, PID=1
	{"vp8 15-bit picture id, L, T", CodecVP8, []byte{
		0x90,       // X=1, S=1
		0xe0,       // I=1, L=1, T=1, K=0
		0x92, 0x34, // M=1, PictureID=0x1234
		0x05,             // TL0PICIDX
		0x20,             // TID=0, Y=1, KEYIDX=0
		0x10, 0x02, 0x00, // frame tag, P=0
		0x9d, 0x01, 0x2a,
	}, true},
	{"vp8 7-bit picture id", CodecVP8, []byte{
		0x90,       // X=1, S=1
		0x80,       // I=1
		0x12,       // M=0, PictureID=0x12
		0x10, 0x02, // frame tag, P=0
	}, true},
	{"vp8 7-bit picture id interframe", CodecVP8, []byte{0x90, 0x80, 0x12, 0x31}, false},
	{"vp8 K only", CodecVP8, []byte{
		0x90, // X=1, S=1
		0x10, // K=1
		0x03, // TID=0, Y=0, KEYIDX=3
		0x10, // frame tag, P=0
	}, true},
	{"vp8 picture id 0x10 is not the frame tag", CodecVP8, []byte{0x90, 0x80, 0x10, 0x01}, false},
	{"vp8 empty", CodecVP8, nil, false},
	{"vp8 truncated after X", CodecVP8, []byte{0x90}, false},
	{"vp8 truncated after I", CodecVP8, []byte{0x90, 0x80}, false},
	{"vp8 truncated in 15-bit picture id", CodecVP8, []byte{0x90, 0x80, 0x80}, false},
	{"vp8 truncated before frame tag", CodecVP8, []byte{0x90, 0xe0, 0x92, 0x34, 0x05, 0x20}, false},

	// VP9, RFC 9628. Descriptor first byte: I P L F B E V Z.
	{"vp9 chrome keyframe with SS", CodecVP9, []byte{
		0xaa,       // I=1, L=1, B=1, V=1
		0x81, 0x23, // M=1, PictureID=0x0123
		0x00,       // TID=0, U=0, SID=0, D=0
		0x00,       // TL0PICIDX (non-flexible)
		0x18,       // SS: N_S=0, Y=1, G=1
		0x02, 0x80, // width 640
		0x01, 0xe0, // height 480
		0x01, // N_G=1
		0x00, // TID=0, U=0, R=0
		0x82, // uncompressed header: frame marker, profile 0, key frame
	}, true},
	{"vp9 truncated in SS", CodecVP9, []byte{0xaa, 0x81, 0x23, 0x00, 0x00, 0x18, 0x02, 0x80, 0x01}, false},
	{"vp9 truncated before N_G", CodecVP9, []byte{0xaa, 0x81, 0x23, 0x00, 0x00, 0x18, 0x02, 0x80, 0x01, 0xe0}, false},
	{"vp9 SS without payload", CodecVP9, []byte{0xaa, 0x81, 0x23, 0x00, 0x00, 0x18, 0x02, 0x80, 0x01, 0xe0, 0x01, 0x00}, false},
	{"vp9 SS with three layers and references", CodecVP9, []byte{
		0x0a,                   // B=1, V=1
		0x58,                   // SS: N_S=2, Y=1, G=1
		0x01, 0x40, 0x00, 0xb4, // 320x180
		0x02, 0x80, 0x01, 0x68, // 640x360
		0x05, 0x00, 0x02, 0xd0, // 1280x720
		0x02,       // N_G=2
		0x04, 0x01, // TID=0, R=1; P_DIFF=1
		0x28, 0x01, 0x02, // TID=1, R=2; P_DIFF=1, 2
		0x82,
	}, true},
	{"vp9 SS references truncated", CodecVP9, []byte{0x0a, 0x08, 0x01, 0x0c, 0x01, 0x02}, false}, // R=3, two P_DIFF
	{"vp9 minimal keyframe", CodecVP9, []byte{0x08, 0x82}, true},                                 // B=1
	{"vp9 descriptor only", CodecVP9, []byte{0x08}, false},
	{"vp9 inter frame", CodecVP9, []byte{0x48, 0x86}, false},     // P=1, B=1
	{"vp9 not frame start", CodecVP9, []byte{0x04, 0x82}, false}, // E=1, B=0
	{"vp9 upper spatial layer", CodecVP9, []byte{
		0x28, // L=1, B=1
		0x02, // TID=0, U=0, SID=1, D=0
		0x00, // TL0PICIDX
		0x82,
	}, false},
	{"vp9 flexible mode base layer", CodecVP9, []byte{
		0xb8, // I=1, L=1, F=1, B=1
		0x05, // PictureID=5
		0x00, // TID=0, SID=0; no TL0PICIDX in flexible mode
		0x82,
	}, true},
	{"vp9 flexible mode with references", CodecVP9, []byte{0xd8, 0x05, 0x03, 0x02, 0x86}, false}, // P=1
	{"vp9 truncated picture id", CodecVP9, []byte{0x88, 0x80}, false},
	{"vp9 truncated layer byte", CodecVP9, []byte{0x28}, false},
	{"vp9 empty", CodecVP9, []byte{}, false},

	// H.264, RFC 6184. NAL header: F NRI(2) Type(5).
	{"h264 IDR", CodecH264, []byte{0x65, 0x88, 0x84, 0x00}, true},      // NRI=3, type 5
	{"h264 SPS", CodecH264, []byte{0x67, 0x42, 0xc0, 0x1f}, true},      // type 7
	{"h264 PPS", CodecH264, []byte{0x68, 0xce, 0x3c, 0x80}, false},     // type 8
	{"h264 non-IDR slice", CodecH264, []byte{0x41, 0x9a, 0x02}, false}, // type 1
	{"h264 STAP-A SPS PPS", CodecH264, []byte{
		0x78,                               // NRI=3, type 24
		0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f, // SPS
		0x00, 0x04, 0x68, 0xce, 0x3c, 0x80, // PPS
	}, true},
	{"h264 STAP-A IDR last", CodecH264, []byte{
		0x78,
		0x00, 0x02, 0x06, 0x05, // SEI
		0x00, 0x04, 0x68, 0xce, 0x3c, 0x80, // PPS
		0x00, 0x02, 0x65, 0x88, // IDR
	}, true},
	{"h264 STAP-A without key NAL", CodecH264, []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x41, 0x9a}, false},
	{"h264 STAP-A size overrun", CodecH264, []byte{0x78, 0x00, 0x10, 0x67, 0x42}, false},
	{"h264 STAP-A zero size", CodecH264, []byte{0x78, 0x00, 0x00, 0x67}, false},
	{"h264 STAP-A truncated size", CodecH264, []byte{0x78, 0x00}, false},
	{"h264 FU-A IDR start", CodecH264, []byte{
		0x7c,       // FU indicator: NRI=3, type 28
		0x85,       // FU header: S=1, type 5
		0x88, 0x84, // fragment
	}, true},
	{"h264 FU-A IDR middle", CodecH264, []byte{0x7c, 0x05, 0x00}, false},    // S=0
	{"h264 FU-A IDR end", CodecH264, []byte{0x7c, 0x45, 0x00}, false},       // E=1
	{"h264 FU-A non-IDR start", CodecH264, []byte{0x5c, 0x81, 0x9a}, false}, // type 1
	{"h264 FU-A truncated", CodecH264, []byte{0x7c}, false},
	{"h264 reserved type 0", CodecH264, []byte{0x00, 0x00}, false},
	{"h264 empty", CodecH264, nil, false},

	// AV1 aggregation header: Z Y W(2) N.
	{"av1 new coded video sequence", CodecAV1, []byte{0x18, 0x0a, 0x0b}, true}, // W=1, N=1
	{"av1 ordinary packet", CodecAV1, []byte{0x10, 0x32}, false},               // W=1
	{"av1 continuation", CodecAV1, []byte{0x88, 0x00}, false},                  // Z=1, N=1
	{"av1 short", CodecAV1, []byte{0x08}, false},

	{"opus has no keyframes", CodecOpus, []byte{0xfc, 0xff, 0xfe}, false},
	{"unknown codec", CodecUnknown, []byte{0x65, 0x88}, false},
	{"out of range codec", Codec(200), []byte{0x10, 0x10}, false},
}

func TestIsKeyframe(t *testing.T) {
	for _, tt := range keyframeTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsKeyframe(tt.codec, tt.payload); got != tt.want {
				t.Fatalf("IsKeyframe(%v, % x) = %v, want %v", tt.codec, tt.payload, got, tt.want)
			}
		})
	}
}

// TestIsKeyframeTruncated checks that no prefix of a vector panics, and
// that a VP9 keyframe is not recognised from a prefix that cuts its
// descriptor, since VP9 descriptors are skipped in full.
func TestIsKeyframeTruncated(t *testing.T) {
	for _, tt := range keyframeTests {
		for n := range len(tt.payload) {
			got := IsKeyframe(tt.codec, tt.payload[:n])
			if tt.codec == CodecVP9 && got {
				t.Errorf("%s: prefix of %d bytes is a keyframe", tt.name, n)
			}
		}
	}
}

func TestIsKeyframeAllocs(t *testing.T) {
	for _, tt := range keyframeTests {
		if n := testing.AllocsPerRun(100, func() { IsKeyframe(tt.codec, tt.payload) }); n != 0 {
			t.Errorf("%s: IsKeyframe allocates %v times per call", tt.name, n)
		}
	}
}

// FuzzIsKeyframe checks IsKeyframe on arbitrary payloads of every codec
// against pion's depacketizers: a VP8 or VP9 payload is a keyframe exactly
// when pion parses its descriptor and finds the start of a frame that is
// not predicted (VP8: S, partition 0, P clear in the frame tag; VP9: B, P
// clear, spatial layer 0) with data after the descriptor; an H.264 single
// NAL unit or STAP-A when pion finds an IDR slice or SPS in it.
func FuzzIsKeyframe(f *testing.F) {
	for _, tt := range keyframeTests {
		f.Add(uint8(tt.codec), tt.payload)
	}
	f.Fuzz(func(t *testing.T, codec uint8, payload []byte) {
		got := IsKeyframe(Codec(codec), payload)
		want, known := pionKeyframe(Codec(codec), payload)
		if known && got != want {
			t.Fatalf("IsKeyframe(%v, % x) = %v, pion's depacketizer says %v", Codec(codec), payload, got, want)
		}
	})
}

// pionKeyframe tells from pion's depacketizer whether payload starts a
// keyframe; known is false for codecs it is not asked about.
func pionKeyframe(codec Codec, payload []byte) (key, known bool) {
	switch codec {
	case CodecVP8:
		var p codecs.VP8Packet
		if _, err := p.Unmarshal(payload); err != nil {
			return false, true
		}
		return p.S == 1 && p.PID == 0 && len(p.Payload) > 0 && p.Payload[0]&0x01 == 0, true
	case CodecVP9:
		var p codecs.VP9Packet
		if _, err := p.Unmarshal(payload); err != nil {
			return false, true
		}
		return p.B && !p.P && (!p.L || p.SID == 0) && len(p.Payload) > 0, true
	case CodecH264:
		if len(payload) == 0 || payload[0]&0x1f == h264NALFUA {
			return false, false // FU-A: pion puts the fragments together first
		}
		// In AVC form pion writes each NAL unit after its 4-byte length.
		nals, err := (&codecs.H264Packet{IsAVC: true}).Unmarshal(payload)
		if err != nil {
			// A STAP-A cut short: IsKeyframe may have found a key NAL
			// unit before the cut.
			return false, false
		}
		for len(nals) >= 4 {
			size := int(binary.BigEndian.Uint32(nals))
			if size == 0 {
				return false, false // an empty NAL unit in a STAP-A: malformed
			}
			if t := nals[4] & 0x1f; t == h264NALIDR || t == h264NALSPS {
				key = true
			}
			nals = nals[4+size:]
		}
		return key, true
	}
	return false, false
}

func BenchmarkIsKeyframeVP8(b *testing.B) {
	b.ReportAllocs()
	// X, I (15-bit), L, T, then a keyframe tag: the longest common path.
	payload := []byte{0x90, 0xe0, 0x92, 0x34, 0x05, 0x20, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}
	for b.Loop() {
		if !IsKeyframe(CodecVP8, payload) {
			b.Fatal("not a keyframe")
		}
	}
}
