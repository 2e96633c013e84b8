package rtp

import "testing"

// rewriterModel restates the Rewriter's contract over unbounded integers,
// with every pad point kept, so that FuzzRewriter can check each answer of
// a Rewriter driven by arbitrary calls.
//
// Output numbers are extended; the first packet goes out at modelBase plus
// firstSeq, so that a model number and the Rewriter's agree mod 2^16.
type rewriterModel struct {
	firstSeq   uint16
	firstTS    uint32
	started    bool
	pending    bool
	gap        uint32
	highestOut int
	highestTS  uint32

	// The current source: its anchoring packet's input and output
	// numbers, its timestamp offset, and the newest input forwarded.
	anchorIn, anchorOut, highestIn int
	tsOffset                       uint32

	// pads are the pad points the Rewriter still remembers, oldest first;
	// forgotten ones only leave their total, the newest one's input and
	// the end of its padding.
	pads       []modelPad
	forgotN    int
	forgotH    int
	forgotEnd  int
	anyForgot  bool
	padHistory int
}

// modelPad is a run of padding: h is the newest input forwarded before it,
// out its first output number, n its length.
type modelPad struct{ h, out, n int }

const modelBase = 1 << 20

// expected returns the output number of the current source's input in
// and whether Forward must refuse it.
func (m *rewriterModel) expected(in int) (out int, refused bool) {
	if in < m.anchorIn || (m.anyForgot && in <= m.forgotH) {
		return 0, true
	}
	out = m.anchorOut + in - m.anchorIn + m.forgotN
	for _, p := range m.pads {
		if in > p.h {
			out += p.n
		}
	}
	return out, false
}

// extend gives the model number nearest the highest sent for a 16-bit one.
func (m *rewriterModel) extend(seq uint16) int {
	return m.highestOut + int(int16(seq-uint16(m.highestOut)))
}

func (m *rewriterModel) padded(ext int) bool {
	if !m.started || m.pending {
		return false
	}
	for _, p := range m.pads {
		if ext >= p.out && ext < p.out+p.n {
			return true
		}
	}
	return false
}

// reverse is the input number that was or would be sent as ext.
func (m *rewriterModel) reverse(ext int) (in int, ok bool) {
	if !m.started || m.pending || ext > m.highestOut || ext < m.anchorOut || m.padded(ext) ||
		(m.anyForgot && ext < m.forgotEnd) {
		return 0, false
	}
	in = m.anchorIn + ext - m.anchorOut - m.forgotN
	for _, p := range m.pads {
		if p.out < ext {
			in -= p.n
		}
	}
	return in, true
}

// Rewriter operations in FuzzRewriter's input, one byte each (mod 8),
// followed by their arguments.
const (
	rwForward    = 0 // 0-3: forward a packet; seq step (int8/2), timestamp byte
	rwSwitch     = 4 // gap (2 bytes), new source's first seq (2) and timestamp (4)
	rwPad        = 5 // n (byte mod 17; 0 is refused)
	rwReverse    = 6 // an output number below the highest (byte), minus 8
	rwRetransmit = 7 // the same, then Rewrite of what Reverse gave
)

// rwOp builds FuzzRewriter input.
func rwOp(op byte, args ...byte) []byte { return append([]byte{op}, args...) }

// FuzzRewriter drives a Rewriter with arbitrary packets, source switches,
// padding and NACK look-ups and checks every answer against
// rewriterModel: a source's packets keep their spacing, a new source
// continues right after the highest number sent, padding takes the
// numbers after it and moves later packets up, late packets of a source
// are refused, and Reverse then Rewrite maps a sent number back to itself.
func FuzzRewriter(f *testing.F) {
	seed := func(first []byte, ops ...[]byte) []byte {
		b := append([]byte{}, first...)
		for _, op := range ops {
			b = append(b, op...)
		}
		return b
	}
	// firstSeq, firstTS, the first source's first seq and timestamp.
	start := []byte{0x12, 0x34, 0, 1, 0x5f, 0x90, 0xff, 0xf0, 0, 0, 0x20, 0}
	inOrder := rwOp(rwForward, 2, 30) // one step forward
	late := rwOp(rwForward, 0xfa, 30) // three steps back
	f.Add(seed(start, inOrder, inOrder, inOrder, rwOp(rwReverse, 1), rwOp(rwRetransmit, 2)))
	f.Add(seed(start, inOrder, late, inOrder, inOrder, rwOp(rwSwitch, 0x0b, 0xb8, 0x9c, 0x40, 0, 0, 0x10, 0), inOrder, late, inOrder))
	f.Add(seed(start, inOrder, rwOp(rwPad, 3), rwOp(rwPad, 2), inOrder, late, late, rwOp(rwReverse, 4), rwOp(rwRetransmit, 6), rwOp(rwReverse, 9)))
	f.Add(seed([]byte{0xff, 0xfe, 0xff, 0xff, 0xff, 0xf0, 0, 1, 0xff, 0xff, 0xff, 0}, inOrder, inOrder, inOrder, inOrder, rwOp(rwSwitch, 0, 0, 0xff, 0xff, 0, 0, 0, 0), inOrder, inOrder))
	var many []byte
	for range 70 { // more pad points than the Rewriter remembers
		many = append(many, inOrder...)
		many = append(many, rwOp(rwPad, 1)...)
	}
	f.Add(seed(start, append(many, late[0], 0x82, late[2], late[0], 0x80, late[2], rwRetransmit, 200)))

	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzReader{data: data}
		m := &rewriterModel{firstSeq: in.uint16(), firstTS: in.uint32(), padHistory: padHistory}
		r := NewRewriter(m.firstSeq, m.firstTS)
		cursor := modelBase + int(in.uint16()) // the current source's input
		tsBase := in.uint32()
		for ops := 0; in.more() && ops < 256; ops++ {
			switch op := in.byte() % 8; op {
			case rwSwitch:
				m.gap = uint32(in.uint16())
				r.Switch(m.gap)
				m.pending = true
				m.pads, m.forgotN, m.anyForgot = nil, 0, false
				cursor, tsBase = modelBase+int(in.uint16()), in.uint32()
			case rwPad:
				n := int(in.byte() % 17)
				first, ts, ok := r.Pad(n)
				if !m.started || m.pending || n < 1 {
					if ok {
						t.Fatalf("op %d: Pad(%d) accepted before a packet or during a switch", ops, n)
					}
					continue
				}
				if !ok || first != uint16(m.highestOut+1) || ts != m.highestTS {
					t.Fatalf("op %d: Pad(%d) = %d %d %v, want %d %d", ops, n, first, ts, ok, uint16(m.highestOut+1), m.highestTS)
				}
				if k := len(m.pads) - 1; k >= 0 && m.pads[k].out+m.pads[k].n == m.highestOut+1 {
					m.pads[k].n += n
				} else {
					m.pads = append(m.pads, modelPad{h: m.highestIn, out: m.highestOut + 1, n: n})
					if len(m.pads) > m.padHistory {
						old := m.pads[0]
						m.pads = m.pads[1:]
						m.forgotN += old.n
						m.forgotH, m.forgotEnd, m.anyForgot = old.h, old.out+old.n, true
					}
				}
				m.highestOut += n
			case rwReverse, rwRetransmit:
				out := uint16(m.highestOut) - uint16(in.byte()) + 8
				ext := m.extend(out)
				if got, want := r.Padded(out), m.padded(ext); got != want {
					t.Fatalf("op %d: Padded(%d) = %v, want %v", ops, out, got, want)
				}
				seq, ok := r.Reverse(out)
				wantIn, wantOK := m.reverse(ext)
				if ok != wantOK || (ok && seq != uint16(wantIn)) {
					t.Fatalf("op %d: Reverse(%d) = %d %v, want %d %v", ops, out, seq, ok, uint16(wantIn), wantOK)
				}
				if op == rwRetransmit && ok {
					ts := uint32(in.byte())
					if gotSeq, gotTS := r.Rewrite(seq, ts); gotSeq != out || gotTS != ts+m.tsOffset {
						t.Fatalf("op %d: Rewrite of NACKed %d (in %d) = %d %d, want %d %d", ops, out, seq, gotSeq, gotTS, out, ts+m.tsOffset)
					}
				}
			default: // rwForward
				cursor += int(int8(in.byte())) / 2
				ts := tsBase + uint32(in.byte())*100
				seq, outTS, ok := r.Forward(uint16(cursor), ts)
				var want int
				var wantTS uint32
				switch {
				case !m.started || m.pending:
					if m.started {
						want, wantTS = m.highestOut+1, m.highestTS+max(m.gap, 1)
					} else {
						want, wantTS = modelBase+int(m.firstSeq), m.firstTS
					}
					m.started, m.pending = true, false
					m.anchorIn, m.anchorOut, m.highestIn = cursor, want, cursor
					m.tsOffset = wantTS - ts
					m.highestOut, m.highestTS = want, wantTS
				default:
					var refused bool
					want, refused = m.expected(cursor)
					if refused {
						if ok {
							t.Fatalf("op %d: Forward(%d) = %d, want refused (late or forgotten)", ops, uint16(cursor), seq)
						}
						continue
					}
					wantTS = ts + m.tsOffset
					if want > m.highestOut {
						m.highestOut, m.highestTS, m.highestIn = want, wantTS, cursor
					}
				}
				if !ok || seq != uint16(want) || outTS != wantTS {
					t.Fatalf("op %d: Forward(%d, %d) = %d %d %v, want %d %d", ops, uint16(cursor), ts, seq, outTS, ok, uint16(want), wantTS)
				}
			}
			if s, ts := r.LastOut(); m.started && (s != uint16(m.highestOut) || ts != m.highestTS) {
				t.Fatalf("op %d: LastOut = %d %d, want %d %d", ops, s, ts, uint16(m.highestOut), m.highestTS)
			}
		}
	})
}
