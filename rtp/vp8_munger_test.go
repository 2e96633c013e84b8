package rtp

import (
	"bytes"
	"testing"
)

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

// FuzzVP8Munger feeds a VP8Munger arbitrary payloads, source switches and
// retransmissions. Input: per packet a flags byte (bit 0: Switch first;
// bit 1: a retransmission of the source's previous packet), a length
// byte (mod 24) and the payload. It checks that only the picture ID and
// TL0PICIDX bytes change, that a source's numbers keep their spacing
// (one offset per source), that after a switch the new source continues
// right after the newest picture sent, and that a retransmission goes out
// exactly as the original did.
func FuzzVP8Munger(f *testing.F) {
	packet := func(flags byte, p []byte) []byte { return append([]byte{flags, byte(len(p))}, p...) }
	seed := func(pkts ...[]byte) []byte {
		var b []byte
		for _, p := range pkts {
			b = append(b, p...)
		}
		return b
	}
	f.Add(seed(packet(0, vp8Payload(1, 2, true)), packet(0, vp8Payload(2, 2, false)), packet(2, nil),
		packet(1, vp8Payload(30000, 200, true)), packet(0, vp8Payload(30001, 201, true)), packet(2, nil)))
	f.Add(seed(packet(0, vp8Payload(0x7ffe, 255, true)), packet(0, vp8Payload(0x7fff, 0, true)),
		packet(1, vp8Payload(5, 9, true)), packet(0, vp8Payload(4, 8, false)), packet(1, vp8Payload(0, 0, true))))
	f.Add(seed(packet(0, []byte{0x90, 0x80, 0x12, 0x10}), packet(1, []byte{0x10, 0x9d}), packet(0, []byte{0x80, 0xf0, 0x81})))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzReader{data: data}
		var m VP8Munger
		dst := make([]byte, 32)
		var (
			started, clean   bool // clean: every packet noted had a 15-bit picture ID
			newest           uint16
			offset           uint16 // out - in picture ID of the current source
			tl0Offset        uint8
			havePic, haveTL0 bool
			prev, prevOut    []byte // the source's previous packet, as sent
			pendingSwitch    bool
		)
		for n := 0; in.more() && n < 64; n++ {
			flags := in.byte()
			p := make([]byte, in.byte()%24)
			for i := range p {
				p[i] = in.byte()
			}
			if flags&1 != 0 {
				m.Switch()
				pendingSwitch, havePic, haveTL0, prev = true, false, false, nil
			}
			if flags&2 != 0 && prev != nil {
				out := m.Munge(dst, prev, false)
				if !bytes.Equal(out, prevOut) {
					t.Fatalf("packet %d: retransmission of % x went out as % x, first as % x", n, prev, out, prevOut)
				}
				continue
			}
			d, ok := parseVP8Descriptor(p)
			out := m.Munge(dst, p, true)
			if !ok {
				if out != nil {
					t.Fatalf("packet %d: malformed % x munged to % x", n, p, out)
				}
				continue
			}
			if len(out) != len(p) {
				t.Fatalf("packet %d: % x munged to % x", n, p, out)
			}
			for i := range p {
				if p[i] != out[i] && i != d.picPos && i != d.picPos+1 && i != d.tl0Pos {
					t.Fatalf("packet %d: byte %d changed: % x -> % x", n, i, p, out)
				}
			}
			od, ok := parseVP8Descriptor(out)
			if !ok || od.picPos != d.picPos || od.tl0Pos != d.tl0Pos {
				t.Fatalf("packet %d: descriptor of % x no longer parses alike: % x", n, p, out)
			}
			if d.picPos < 0 && d.tl0Pos < 0 {
				continue // nothing to rewrite: passed through, nothing noted
			}
			prev, prevOut = p, append([]byte(nil), out...)
			if pendingSwitch && started && clean && d.picPos >= 0 && od.pic != (newest+1)&0x7fff {
				t.Fatalf("packet %d: first picture after a switch is %d, want %d", n, od.pic, (newest+1)&0x7fff)
			}
			if d.picPos >= 0 {
				if havePic && (od.pic-d.pic)&0x7fff != offset {
					t.Fatalf("packet %d: picture ID offset moved within a source: %d -> %d, offset %d", n, d.pic, od.pic, offset)
				}
				offset, havePic = (od.pic-d.pic)&0x7fff, true
			}
			if d.tl0Pos >= 0 {
				if haveTL0 && od.tl0-d.tl0 != tl0Offset {
					t.Fatalf("packet %d: TL0PICIDX offset moved within a source: %d -> %d, offset %d", n, d.tl0, od.tl0, tl0Offset)
				}
				tl0Offset, haveTL0 = od.tl0-d.tl0, true
			}
			if !started {
				clean = true
			}
			clean = clean && d.picPos >= 0
			if !started || (od.pic-newest)&0x7fff < 0x4000 {
				newest = od.pic
			}
			started, pendingSwitch = true, false
		}
	})
}

// A stream's first picture ID may be anywhere in the 15-bit space, as may
// its TL0PICIDX: after a switch the new source continues from them, not
// from zero (FuzzVP8Munger found IDs from 0x4000 up taken for old ones).
func TestVP8MungerStartsAnywhere(t *testing.T) {
	var m VP8Munger
	dst := make([]byte, 64)
	m.Munge(dst, vp8Payload(20000, 200, true), true)
	m.Munge(dst, vp8Payload(20001, 201, true), true)
	m.Switch()
	d, _ := parseVP8Descriptor(m.Munge(dst, vp8Payload(7, 3, true), true))
	if d.pic != 20002 || d.tl0 != 202 {
		t.Fatalf("after a switch: picture %d, TL0PICIDX %d, want 20002, 202", d.pic, d.tl0)
	}
}
