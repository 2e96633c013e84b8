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

func FuzzHeaderExtension(f *testing.F) {
	h := pionrtp.Header{Version: 2, SSRC: 1}
	_ = h.SetExtension(3, []byte{1, 2})
	b, _ := (&pionrtp.Packet{Header: h}).Marshal()
	f.Add(b, uint8(3))
	f.Fuzz(func(t *testing.T, pkt []byte, id uint8) {
		if v := HeaderExtension(pkt, id); v != nil && len(v) > len(pkt) {
			t.Fatal("value longer than the packet")
		}
	})
}
