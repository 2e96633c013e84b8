package rtp

import "testing"

func TestSeqUnwrapper(t *testing.T) {
	const base = 1 << 16
	tests := []struct {
		name string
		in   []uint16
		want []uint64
	}{
		{"first value", []uint16{100}, []uint64{base + 100}},
		{"in order", []uint16{1, 2, 3}, []uint64{base + 1, base + 2, base + 3}},
		{"wrap 65535 to 0", []uint16{65534, 65535, 0, 1}, []uint64{base + 65534, base + 65535, 2 * base, 2*base + 1}},
		{"late before first", []uint16{5, 3, 65535}, []uint64{base + 5, base + 3, base - 1}},
		{"out of order across wrap", []uint16{65535, 1, 0, 65534, 2}, []uint64{base + 65535, 2*base + 1, 2 * base, base + 65534, 2*base + 2}},
		{"late after wrap does not move highest", []uint16{65530, 3, 65533, 4}, []uint64{base + 65530, 2*base + 3, base + 65533, 2*base + 4}},
		{"jump forward just under half", []uint16{0, 32767}, []uint64{base, base + 32767}},
		{"jump of half is backwards", []uint16{40000, 7232}, []uint64{base + 40000, base + 7232}},
		{"lowest possible", []uint16{0, 32768}, []uint64{base, base - 32768}},
		{"duplicate", []uint16{9, 9}, []uint64{base + 9, base + 9}},
		{"many wraps", []uint16{0, 30000, 60000, 24464, 54464, 18928}, []uint64{base, base + 30000, base + 60000, 2*base + 24464, 2*base + 54464, 3*base + 18928}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u SeqUnwrapper
			for i, seq := range tt.in {
				if got := u.Unwrap(seq); got != tt.want[i] {
					t.Fatalf("Unwrap(%d) #%d = %d, want %d", seq, i, got, tt.want[i])
				}
			}
		})
	}
}

func TestSeqUnwrapperHighest(t *testing.T) {
	var u SeqUnwrapper
	if h := u.Highest(); h != 0 {
		t.Fatalf("Highest() before Unwrap = %d, want 0", h)
	}
	u.Unwrap(65535)
	u.Unwrap(2)
	u.Unwrap(65534)
	if h, want := u.Highest(), uint64(2<<16+2); h != want {
		t.Fatalf("Highest() = %d, want %d", h, want)
	}
}

func TestSeqUnwrapperAllocs(t *testing.T) {
	var u SeqUnwrapper
	var seq uint16
	if n := testing.AllocsPerRun(1000, func() { seq += 7; u.Unwrap(seq) }); n != 0 {
		t.Fatalf("Unwrap allocates %v times per call", n)
	}
}

func BenchmarkUnwrap(b *testing.B) {
	b.ReportAllocs()
	var u SeqUnwrapper
	var seq uint16
	for b.Loop() {
		seq++
		u.Unwrap(seq)
	}
}
