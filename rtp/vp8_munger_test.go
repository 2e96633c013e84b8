package rtp

import "testing"

// vp8Payload builds a payload with X, I (15-bit picture ID), L and T set.
func vp8Payload(pic uint16, tl0 uint8, start bool) []byte {
	b0 := byte(0x80)
	if start {
		b0 |= 0x10
	}
	return []byte{b0, 0xe0, 0x80 | byte(pic>>8), byte(pic), tl0, 0x20, 0x9d, 0x01, 0x2a}
}

func TestVP8MungerContinuesAcrossSwitch(t *testing.T) {
	var m VP8Munger
	dst := make([]byte, 64)
	// First source: pictures 100..102 pass through unchanged.
	for pic := uint16(100); pic <= 102; pic++ {
		out := m.Munge(dst, vp8Payload(pic, 7, true), true)
		d, _ := parseVP8Descriptor(out)
		if d.pic != pic || d.tl0 != 7 {
			t.Fatalf("first source pic %d -> %d tl0 %d", pic, d.pic, d.tl0)
		}
	}
	// Switch to a layer numbering its pictures from 30000, TL0 from 200.
	m.Switch()
	cases := []struct {
		inPic       uint16
		inTL0       uint8
		wantPic     uint16
		wantTL0     uint8
		advance     bool
		description string
	}{
		{30000, 200, 103, 8, true, "anchor: continues after 102"},
		{30000, 200, 103, 8, true, "second packet of the same picture"},
		{30001, 201, 104, 9, true, "next picture"},
		{30000, 200, 103, 8, false, "retransmission maps like the original"},
		{32767, 255, (32767 - 30000 + 103) & 0x7fff, 255 - 200 + 8, true, "wraps the 15-bit field"},
		{0, 0, (103 + 32768 - 30000) & 0x7fff, 64, true, "past the wrap (0 - 200 + 8 mod 256 = 64)"},
	}
	for _, c := range cases {
		out := m.Munge(dst, vp8Payload(c.inPic, c.inTL0, true), c.advance)
		d, ok := parseVP8Descriptor(out)
		if !ok || d.pic != c.wantPic || d.tl0 != c.wantTL0 {
			t.Errorf("%s: pic %d tl0 %d -> %d %d, want %d %d", c.description, c.inPic, c.inTL0, d.pic, d.tl0, c.wantPic, c.wantTL0)
		}
		if len(out) != 9 || out[6] != 0x9d {
			t.Errorf("%s: payload after the descriptor changed: % x", c.description, out)
		}
	}
}

func TestVP8MungerPassesThroughAndRejects(t *testing.T) {
	var m VP8Munger
	plain := []byte{0x10, 0x9d, 0x01, 0x2a} // no X: nothing to rewrite
	if out := m.Munge(nil, plain, true); &out[0] != &plain[0] {
		t.Error("a descriptor without picture ID was copied")
	}
	for _, bad := range [][]byte{{}, {0x80}, {0x80, 0x80}, {0x80, 0x80, 0x80}, {0x80, 0x40}} {
		if out := m.Munge(make([]byte, 8), bad, true); out != nil {
			t.Errorf("malformed % x accepted", bad)
		}
	}
}

func TestVP8MungerDoesNotAllocate(t *testing.T) {
	var m VP8Munger
	dst := make([]byte, 64)
	p := vp8Payload(5, 1, true)
	m.Munge(dst, p, true)
	m.Switch()
	q := vp8Payload(9000, 3, true)
	if n := testing.AllocsPerRun(1000, func() { m.Munge(dst, q, true) }); n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

func FuzzVP8Munger(f *testing.F) {
	f.Add(vp8Payload(1, 2, true))
	f.Add([]byte{0x80, 0xf0, 0x81})
	f.Fuzz(func(t *testing.T, p []byte) {
		var m VP8Munger
		m.Switch()
		_ = m.Munge(make([]byte, len(p)), p, true)
	})
}
