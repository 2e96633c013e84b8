package rtp

import (
	"bytes"
	"testing"

	pionrtp "github.com/pion/rtp"
)

func TestHeaderExtension(t *testing.T) {
	marshal := func(t *testing.T, h pionrtp.Header) []byte {
		t.Helper()
		b, err := (&pionrtp.Packet{Header: h, Payload: []byte{1, 2, 3}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oneByte := pionrtp.Header{Version: 2, SequenceNumber: 7, SSRC: 1, CSRC: []uint32{9, 10}}
	for _, e := range []struct {
		id  uint8
		val []byte
	}{{1, []byte{0x30}}, {3, []byte{0x12, 0x34}}, {5, []byte("abcdefgh")}} {
		if err := oneByte.SetExtension(e.id, e.val); err != nil {
			t.Fatal(err)
		}
	}
	twoByte := pionrtp.Header{Version: 2, SequenceNumber: 7, SSRC: 1, Extension: true, ExtensionProfile: 0x1000}
	for _, e := range []struct {
		id  uint8
		val []byte
	}{{1, []byte{}}, {3, []byte{0x12, 0x34}}, {200, bytes.Repeat([]byte{7}, 20)}} {
		if err := twoByte.SetExtension(e.id, e.val); err != nil {
			t.Fatal(err)
		}
	}
	one, two := marshal(t, oneByte), marshal(t, twoByte)
	none := marshal(t, pionrtp.Header{Version: 2, SequenceNumber: 7, SSRC: 1})

	tests := []struct {
		name string
		pkt  []byte
		id   uint8
		want []byte
	}{
		{"one-byte, first", one, 1, []byte{0x30}},
		{"one-byte, middle", one, 3, []byte{0x12, 0x34}},
		{"one-byte, longest", one, 5, []byte("abcdefgh")},
		{"one-byte, absent", one, 2, nil},
		{"two-byte, empty value", two, 1, []byte{}},
		{"two-byte, middle", two, 3, []byte{0x12, 0x34}},
		{"two-byte, id over 14", two, 200, bytes.Repeat([]byte{7}, 20)},
		{"no extension", none, 3, nil},
		{"id 0", one, 0, nil},
		{"truncated in the extension", one[:len(one)-8], 5, nil},
		{"too short", one[:10], 3, nil},
		{"empty", nil, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HeaderExtension(tt.pkt, tt.id)
			if (got == nil) != (tt.want == nil) || !bytes.Equal(got, tt.want) {
				t.Errorf("HeaderExtension(id %d) = %x, want %x", tt.id, got, tt.want)
			}
		})
	}

	// The reserved id 15 ends the one-byte form.
	bad := append([]byte{}, one...)
	off := 12 + 8 + 4
	bad[off] = 0xf0
	if got := HeaderExtension(bad, 3); got != nil {
		t.Errorf("after id 15: %x, want nil", got)
	}

	if n := testing.AllocsPerRun(100, func() { HeaderExtension(one, 5) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

// FuzzHeaderExtension reads one extension out of arbitrary packets and
// checks the answer against pion's full parse of the header, which the
// forwarding path uses for the audio level (sfu's audioLevels.observe):
// wherever pion finds a value, HeaderExtension finds the same one, and
// AudioLevel reads it as the RFC says.
func FuzzHeaderExtension(f *testing.F) {
	seed := func(profile uint16, exts map[uint8][]byte, csrc int, payload []byte) []byte {
		h := pionrtp.Header{Version: 2, SequenceNumber: 9, Timestamp: 960, SSRC: 1}
		for range csrc {
			h.CSRC = append(h.CSRC, uint32(len(h.CSRC)+1))
		}
		if profile != 0 {
			h.Extension, h.ExtensionProfile = true, profile
		}
		for id, v := range exts {
			if err := h.SetExtension(id, v); err != nil {
				f.Fatal(err)
			}
		}
		b, err := (&pionrtp.Packet{Header: h, Payload: payload}).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	opus := []byte{0xfc, 0xff, 0xfe} // a short Opus frame
	// What a browser sends on audio: mid (4), audio level (1) with voice.
	f.Add(seed(0, map[uint8][]byte{1: {0x80 | 30}, 4: []byte("0")}, 0, opus), uint8(1))
	f.Add(seed(0, map[uint8][]byte{1: {0x7f}}, 0, opus), uint8(1))
	f.Add(seed(0, map[uint8][]byte{3: {1, 2}}, 2, opus), uint8(3))
	f.Add(seed(0x1000, map[uint8][]byte{1: {0x85, 0}, 200: bytes.Repeat([]byte{7}, 20)}, 0, opus), uint8(1))
	f.Add(seed(0x1000, map[uint8][]byte{1: {}}, 1, nil), uint8(1))
	f.Add(seed(0, nil, 0, opus), uint8(1))
	f.Fuzz(func(t *testing.T, pkt []byte, id uint8) {
		v := HeaderExtension(pkt, id)
		if v != nil && len(v) > len(pkt) {
			t.Fatal("value longer than the packet")
		}
		level, voice, ok := AudioLevel(v)
		if ok != (len(v) > 0) || level > 127 || (ok && (voice != (v[0]&0x80 != 0) || level != v[0]&0x7f)) {
			t.Fatalf("AudioLevel(% x) = %d %v %v", v, level, voice, ok)
		}
		var h pionrtp.Header
		if _, err := h.Unmarshal(pkt); err != nil || h.Version != 2 || id == 0 {
			return
		}
		// pion reads elements only with profiles 0xBEDE and 0x1000, not
		// 0x1001-0x100F (RFC 8285, 4.3: appbits), and stops at an id 0
		// with a length, where HeaderExtension skips it: past those it
		// finds nothing where HeaderExtension may.
		if p := h.GetExtension(id); p != nil && !bytes.Equal(v, p) {
			t.Fatalf("HeaderExtension(id %d) = %x, pion finds %x (profile %#x)", id, v, p, h.ExtensionProfile)
		}
	})
}
