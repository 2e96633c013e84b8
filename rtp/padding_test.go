package rtp

import (
	"testing"

	pionrtp "github.com/pion/rtp"
)

// header returns a fixed RTP header whose first byte is b0.
func header(b0 byte) []byte {
	return []byte{b0, 96, 0x12, 0x34, 0, 0, 0x0b, 0xb8, 0xde, 0xad, 0xbe, 0xef}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestPadding(t *testing.T) {
	csrc := []byte{0, 0, 0, 1, 0, 0, 0, 2}
	oneByteExt := []byte{0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0x00, 0x00} // one element, 1 word
	tests := []struct {
		name string
		pkt  []byte
		want int
		ok   bool
	}{
		{"short", make([]byte, 11), 0, false},
		{"version 1", cat(header(0x40), []byte{1, 2}), 0, false},
		{"header only", header(0x80), 0, true},
		{"payload", cat(header(0x80), []byte{1, 2, 3}), 3, true},
		{"two CSRCs", cat(header(0x82), csrc, []byte{1, 2, 3}), 3, true},
		{"CSRCs truncated", cat(header(0x82), csrc[:5]), 0, false},
		{"extension", cat(header(0x90), oneByteExt, []byte{1, 2}), 2, true},
		{"extension header truncated", cat(header(0x90), oneByteExt[:3]), 0, false},
		{"extension body truncated", cat(header(0x90), oneByteExt[:6]), 0, false},
		{"CSRC and extension", cat(header(0x92), csrc, oneByteExt, []byte{9}), 1, true},
		{"padding after payload", cat(header(0xa0), []byte{1, 2, 3, 0, 0, 3}), 3, true},
		{"padding only probe", cat(header(0xb0), oneByteExt, make([]byte, 223), []byte{224}), 0, true},
		{"padding of one byte", cat(header(0xa0), []byte{7, 1}), 1, true},
		{"padding count zero", cat(header(0xa0), []byte{1, 2, 0}), 0, false},
		{"padding longer than payload", cat(header(0xa0), []byte{1, 2, 4}), 0, false},
		{"padding bit without body", header(0xa0), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Padding(tt.pkt)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Padding(% x) = (%d, %v), want (%d, %v)", tt.pkt, got, ok, tt.want, tt.ok)
			}
			if ok {
				checkAgainstPion(t, tt.pkt, got)
			}
		})
	}
}

// checkAgainstPion compares a successful Padding result with pion's parser.
func checkAgainstPion(t *testing.T, pkt []byte, got int) {
	t.Helper()
	var p pionrtp.Packet
	if err := p.Unmarshal(pkt); err != nil {
		t.Fatalf("pion rejects a packet Padding accepts: %v", err)
	}
	if len(p.Payload) != got {
		t.Fatalf("Padding = %d, pion payload = %d", got, len(p.Payload))
	}
}

func TestPaddingAllocs(t *testing.T) {
	pkt := cat(header(0xb2), make([]byte, 8), []byte{0xbe, 0xde, 0, 1, 0x10, 1, 0, 0}, make([]byte, 100), []byte{4})
	if n := testing.AllocsPerRun(1000, func() { Padding(pkt) }); n != 0 {
		t.Fatalf("Padding allocates %v times per call", n)
	}
}

// FuzzPadding checks that Padding never panics and agrees with pion's
// parser on every version 2 packet pion accepts.
func FuzzPadding(f *testing.F) {
	f.Add(cat(header(0xa0), []byte{1, 2, 3, 0, 0, 3}))
	f.Add(cat(header(0x92), make([]byte, 8), []byte{0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0x00, 0x00}, []byte{9}))
	f.Add(header(0xb0))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		got, ok := Padding(pkt)
		var p pionrtp.Packet
		if p.Unmarshal(pkt) != nil || pkt[0]>>6 != 2 {
			return
		}
		if !ok || got != len(p.Payload) {
			t.Fatalf("Padding = (%d, %v), pion payload = %d", got, ok, len(p.Payload))
		}
	})
}

func BenchmarkPadding(b *testing.B) {
	b.ReportAllocs()
	pkt := cat(header(0xb0), []byte{0xbe, 0xde, 0, 1, 0x10, 1, 0, 0}, make([]byte, 1000), []byte{4})
	for b.Loop() {
		Padding(pkt)
	}
}
