package rtp

import "testing"

// rewriterStep is one call on a Rewriter in a scenario table.
type rewriterStep struct {
	switchGap *uint32 // if set, call Switch(*switchGap) instead of Rewrite
	seq       uint16
	ts        uint32
	wantSeq   uint16
	wantTS    uint32
}

func sw(gap uint32) rewriterStep { return rewriterStep{switchGap: &gap} }

func pkt(seq uint16, ts uint32, wantSeq uint16, wantTS uint32) rewriterStep {
	return rewriterStep{seq: seq, ts: ts, wantSeq: wantSeq, wantTS: wantTS}
}

func TestRewriter(t *testing.T) {
	tests := []struct {
		name     string
		firstSeq uint16
		firstTS  uint32
		steps    []rewriterStep
		lastSeq  uint16
		lastTS   uint32
	}{
		{"first packet anchors", 1000, 50000, []rewriterStep{
			pkt(7, 123, 1000, 50000),
			pkt(8, 3123, 1001, 53000),
		}, 1001, 53000},
		{"out of order within source", 10, 0, []rewriterStep{
			pkt(100, 9000, 10, 0),
			pkt(102, 9000, 12, 0),
			pkt(101, 9000, 11, 0),
		}, 12, 0},
		{"late packet before anchor", 10, 100, []rewriterStep{
			pkt(100, 9000, 10, 100),
			pkt(99, 6000, 9, 4294964396),
		}, 10, 100},
		{"continuity across switch", 500, 1000, []rewriterStep{
			pkt(1, 90000, 500, 1000),
			pkt(2, 93000, 501, 4000),
			sw(3000),
			pkt(40000, 7, 502, 7000),
			pkt(40001, 3007, 503, 10000),
			pkt(39999, 7, 501, 7000), // late packet of new source collides; callers drop it
		}, 503, 10000},
		{"switch gap of zero becomes one", 0, 0, []rewriterStep{
			pkt(5, 500, 0, 0),
			sw(0),
			pkt(77, 12345, 1, 1),
		}, 1, 1},
		{"switch continues from highest, not latest", 0, 0, []rewriterStep{
			pkt(5, 500, 0, 0),
			pkt(7, 700, 2, 200),
			pkt(6, 600, 1, 100),
			sw(90),
			pkt(1, 1, 3, 290),
		}, 3, 290},
		{"switch before start is a plain start", 42, 4200, []rewriterStep{
			sw(5000),
			pkt(9, 9, 42, 4200),
		}, 42, 4200},
		{"two switches in a row", 0, 0, []rewriterStep{
			pkt(5, 500, 0, 0),
			sw(10),
			sw(20),
			pkt(9, 9, 1, 20),
		}, 1, 20},
		{"16-bit output wrap", 65534, 0, []rewriterStep{
			pkt(100, 0, 65534, 0),
			pkt(101, 10, 65535, 10),
			pkt(102, 20, 0, 20),
			pkt(103, 30, 1, 30),
			sw(5),
			pkt(7, 7, 2, 35),
		}, 2, 35},
		{"16-bit input wrap", 100, 0, []rewriterStep{
			pkt(65535, 0, 100, 0),
			pkt(0, 10, 101, 10),
			pkt(65534, 4294967286, 99, 4294967286),
		}, 101, 10},
		{"32-bit output wrap", 0, 4294967000, []rewriterStep{
			pkt(1, 0, 0, 4294967000),
			pkt(2, 296, 1, 0),
			pkt(3, 1296, 2, 1000),
			sw(3000),
			pkt(50, 4294967295, 3, 4000),
		}, 3, 4000},
		{"32-bit input wrap", 0, 1000, []rewriterStep{
			pkt(1, 4294967000, 0, 1000),
			pkt(2, 704, 1, 2000),
		}, 1, 2000},
		{"switch across output wrap", 65535, 4294967295, []rewriterStep{
			pkt(10, 10, 65535, 4294967295),
			sw(3000),
			pkt(20, 20, 0, 2999),
		}, 0, 2999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRewriter(tt.firstSeq, tt.firstTS)
			for i, s := range tt.steps {
				if s.switchGap != nil {
					r.Switch(*s.switchGap)
					continue
				}
				gotSeq, gotTS := r.Rewrite(s.seq, s.ts)
				if gotSeq != s.wantSeq || gotTS != s.wantTS {
					t.Fatalf("step %d: Rewrite(%d, %d) = (%d, %d), want (%d, %d)",
						i, s.seq, s.ts, gotSeq, gotTS, s.wantSeq, s.wantTS)
				}
			}
			if seq, ts := r.LastOut(); seq != tt.lastSeq || ts != tt.lastTS {
				t.Fatalf("LastOut() = (%d, %d), want (%d, %d)", seq, ts, tt.lastSeq, tt.lastTS)
			}
		})
	}
}

func TestRewriterStarted(t *testing.T) {
	r := NewRewriter(10, 20)
	if r.Started() {
		t.Fatal("Started() before Rewrite = true")
	}
	if seq, ts := r.LastOut(); seq != 9 || ts != 19 {
		t.Fatalf("LastOut() before Rewrite = (%d, %d), want (9, 19)", seq, ts)
	}
	r.Rewrite(1, 1)
	if !r.Started() {
		t.Fatal("Started() after Rewrite = false")
	}
}

func TestRewriterReverse(t *testing.T) {
	type query struct {
		out    uint16
		in     uint16
		wantOK bool
	}
	tests := []struct {
		name     string
		firstSeq uint16
		steps    []rewriterStep // wantSeq/wantTS are not checked here
		queries  []query
	}{
		{"not started", 0, nil, []query{{0, 0, false}, {65535, 0, false}}},
		{"single source", 100, []rewriterStep{
			pkt(5000, 0, 0, 0), pkt(5001, 0, 0, 0), pkt(5002, 0, 0, 0),
		}, []query{
			{100, 5000, true}, {102, 5002, true},
			{103, 0, false}, // not yet sent
			{99, 0, false},  // before the stream began
		}},
		{"before and after a switch", 100, []rewriterStep{
			pkt(5000, 0, 0, 0), pkt(5001, 0, 0, 0),
			sw(1), pkt(7, 0, 0, 0), pkt(8, 0, 0, 0),
		}, []query{
			{100, 0, false}, {101, 0, false}, // sent by the previous source
			{102, 7, true}, {103, 8, true},
			{104, 0, false},
		}},
		{"switch pending", 100, []rewriterStep{
			pkt(5000, 0, 0, 0), sw(1),
		}, []query{{100, 0, false}}},
		{"across 16-bit output wrap", 65534, []rewriterStep{
			pkt(10, 0, 0, 0), sw(1), pkt(300, 0, 0, 0), pkt(301, 0, 0, 0), pkt(302, 0, 0, 0),
		}, []query{
			{65534, 0, false}, {65535, 300, true}, {0, 301, true}, {1, 302, true}, {2, 0, false},
		}},
		{"across 16-bit input wrap", 7, []rewriterStep{
			pkt(65535, 0, 0, 0), pkt(0, 0, 0, 0), pkt(1, 0, 0, 0),
		}, []query{{7, 65535, true}, {8, 0, true}, {9, 1, true}}},
		{"long stream, far past", 0, longStream(70000), []query{
			{last70k, last70k + 1, true},
			{last70k - 32000, last70k - 32000 + 1, true},
			{last70k + 1, 0, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRewriter(tt.firstSeq, 0)
			for _, s := range tt.steps {
				if s.switchGap != nil {
					r.Switch(*s.switchGap)
				} else {
					r.Rewrite(s.seq, s.ts)
				}
			}
			for _, q := range tt.queries {
				in, ok := r.Reverse(q.out)
				if ok != q.wantOK || (ok && in != q.in) {
					t.Errorf("Reverse(%d) = (%d, %v), want (%d, %v)", q.out, in, ok, q.in, q.wantOK)
				}
			}
		})
	}
}

// last70k is the last output sequence number of longStream(70000) with
// firstSeq 0.
var last70k = uint16(69999 % 65536)

// longStream returns n in-order packets starting at sequence number 1.
func longStream(n int) []rewriterStep {
	steps := make([]rewriterStep, n)
	for i := range steps {
		steps[i] = pkt(uint16(i+1), uint32(i)*3000, 0, 0)
	}
	return steps
}

func TestRewriterAllocs(t *testing.T) {
	r := NewRewriter(0, 0)
	var seq uint16
	n := testing.AllocsPerRun(1000, func() {
		seq++
		s, _ := r.Rewrite(seq, uint32(seq)*3000)
		r.Reverse(s)
	})
	if n != 0 {
		t.Fatalf("Rewrite and Reverse allocate %v times per call", n)
	}
}

func BenchmarkRewrite(b *testing.B) {
	b.ReportAllocs()
	r := NewRewriter(1234, 5678)
	var seq uint16
	for b.Loop() {
		seq++
		r.Rewrite(seq, uint32(seq)*3000)
	}
}

func TestRewriterForwardDropsPacketsBeforeTheSwitch(t *testing.T) {
	r := NewRewriter(100, 1000)
	for i := uint16(0); i < 5; i++ { // old layer: 500..504 -> 100..104
		if _, _, ok := r.Forward(500+i, 9000); !ok {
			t.Fatalf("packet %d of the first source refused", i)
		}
	}
	r.Switch(3000)
	seq, ts, ok := r.Forward(7000, 50000) // new layer's keyframe
	if !ok || seq != 105 {
		t.Fatalf("anchor -> %d ok=%v, want 105", seq, ok)
	}
	if ts != 1000+3000 {
		t.Errorf("anchor ts %d, want %d", ts, 4000)
	}
	if _, _, ok := r.Forward(6999, 49000); ok {
		t.Error("a packet sent before the new source's anchor was accepted")
	}
	if seq, _, ok := r.Forward(7001, 50000); !ok || seq != 106 {
		t.Errorf("next packet -> %d ok=%v, want 106", seq, ok)
	}
	if in, ok := r.Reverse(106); !ok || in != 7001 {
		t.Errorf("Reverse(106) = %d %v", in, ok)
	}
	if _, ok := r.Reverse(104); ok {
		t.Error("Reverse maps a packet of the previous source")
	}
}

// padStep is one call in a padding scenario: Forward(seq, ts) by default,
// Pad(n) if pad, Switch(1) if sw. want is the output sequence number
// (the first padding one for Pad), wantTS its timestamp.
type padStep struct {
	seq    uint16
	ts     uint32
	n      int
	pad    bool
	sw     bool
	want   uint16
	wantTS uint32
	wantOK bool
}

func fwd(seq uint16, ts uint32, want uint16, wantTS uint32) padStep {
	return padStep{seq: seq, ts: ts, want: want, wantTS: wantTS, wantOK: true}
}
func dropped(seq uint16) padStep { return padStep{seq: seq} }
func pad(n int, want uint16, wantTS uint32) padStep {
	return padStep{pad: true, n: n, want: want, wantTS: wantTS, wantOK: true}
}
func padRefused(n int) padStep { return padStep{pad: true, n: n} }
func switched() padStep        { return padStep{sw: true} }

// nack is a Reverse query: in is the incoming number wanted if ok; padded
// is what Padded should say.
type nack struct {
	out    uint16
	in     uint16
	ok     bool
	padded bool
}

func TestRewriterPad(t *testing.T) {
	tests := []struct {
		name     string
		firstSeq uint16
		steps    []padStep
		nacks    []nack
	}{
		{"before start", 100, []padStep{padRefused(3), fwd(10, 0, 100, 1000)}, []nack{{100, 10, true, false}}},
		{"zero packets", 100, []padStep{fwd(10, 0, 100, 1000), padRefused(0), fwd(11, 0, 101, 1000)}, nil},
		{"in order", 100, []padStep{
			fwd(10, 900, 100, 1000), fwd(11, 900, 101, 1000),
			pad(3, 102, 1000),
			fwd(12, 3900, 105, 4000), fwd(13, 3900, 106, 4000),
		}, []nack{
			{100, 10, true, false}, {101, 11, true, false}, // before
			{102, 0, false, true}, {103, 0, false, true}, {104, 0, false, true}, // at
			{105, 12, true, false}, {106, 13, true, false}, // after
			{107, 0, false, false}, // not yet sent
		}},
		{"reorder across pad points", 100, []padStep{
			fwd(10, 0, 100, 1000), fwd(12, 0, 102, 1000),
			pad(2, 103, 1000),
			fwd(11, 0, 101, 1000), // late: the number it had
			fwd(13, 0, 105, 1000),
			pad(1, 106, 1000),
			fwd(11, 0, 101, 1000), // later still, behind two pad points
			fwd(12, 0, 102, 1000),
			fwd(13, 0, 105, 1000),
			fwd(15, 0, 108, 1000),
			fwd(14, 0, 107, 1000),
		}, []nack{
			{101, 11, true, false}, {102, 12, true, false},
			{103, 0, false, true}, {104, 0, false, true},
			{105, 13, true, false}, {106, 0, false, true},
			{107, 14, true, false}, {108, 15, true, false},
		}},
		{"consecutive pads are one run", 100, []padStep{
			fwd(10, 0, 100, 1000), fwd(12, 0, 102, 1000),
			pad(2, 103, 1000), pad(3, 105, 1000),
			fwd(11, 0, 101, 1000),
			fwd(13, 0, 108, 1000),
		}, []nack{{102, 12, true, false}, {107, 0, false, true}, {108, 13, true, false}}},
		{"output wrap across a pad", 65534, []padStep{
			fwd(500, 0, 65534, 1000),
			pad(2, 65535, 1000), // 65535, 0
			fwd(501, 3000, 1, 4000),
			pad(1, 2, 4000),
			fwd(502, 6000, 3, 7000),
		}, []nack{
			{65534, 500, true, false}, {65535, 0, false, true}, {0, 0, false, true},
			{1, 501, true, false}, {2, 0, false, true}, {3, 502, true, false},
		}},
		{"input wrap across a pad", 100, []padStep{
			fwd(65534, 0, 100, 1000), fwd(0, 0, 102, 1000),
			pad(4, 103, 1000),
			fwd(65535, 0, 101, 1000), fwd(1, 0, 107, 1000),
		}, []nack{{101, 65535, true, false}, {102, 0, true, false}, {106, 0, false, true}, {107, 1, true, false}}},
		{"pad then switch", 100, []padStep{
			fwd(10, 0, 100, 1000), pad(2, 101, 1000),
			switched(), padRefused(1),
			fwd(7000, 90000, 103, 1001), // continues after the padding
			dropped(11),                 // the old source is gone
			fwd(7001, 90000, 104, 1001),
			pad(1, 105, 1001),
			fwd(7002, 93000, 106, 4001),
		}, []nack{
			{100, 0, false, false}, {101, 0, false, false}, // the previous source's, forgotten
			{103, 7000, true, false}, {105, 0, false, true}, {106, 7002, true, false},
		}},
		{"packets before the anchor stay dropped", 100, []padStep{
			fwd(10, 0, 100, 1000), pad(1, 101, 1000),
			switched(), fwd(500, 0, 102, 1001),
			pad(5, 103, 1001),
			dropped(499),
			fwd(501, 0, 108, 1001),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRewriter(tt.firstSeq, 1000)
			for i, s := range tt.steps {
				var got uint16
				var gotTS uint32
				var ok bool
				switch {
				case s.sw:
					r.Switch(1)
					continue
				case s.pad:
					got, gotTS, ok = r.Pad(s.n)
				default:
					got, gotTS, ok = r.Forward(s.seq, s.ts)
				}
				if ok != s.wantOK || (ok && (got != s.want || gotTS != s.wantTS)) {
					t.Fatalf("step %d (%+v): got (%d, %d, %v)", i, s, got, gotTS, ok)
				}
			}
			for _, q := range tt.nacks {
				in, ok := r.Reverse(q.out)
				if ok != q.ok || (ok && in != q.in) {
					t.Errorf("Reverse(%d) = (%d, %v), want (%d, %v)", q.out, in, ok, q.in, q.ok)
				}
				if p := r.Padded(q.out); p != q.padded {
					t.Errorf("Padded(%d) = %v, want %v", q.out, p, q.padded)
				}
			}
		})
	}
}

// TestRewriterPadHistory pads after every packet more often than the
// history holds: late packets from before the forgotten pad points are
// refused rather than given a number the padding took.
func TestRewriterPadHistory(t *testing.T) {
	r := NewRewriter(0, 0)
	const pads = padHistory + 6
	for i := range uint16(pads) { // packet i+1 -> 2i, padding at 2i+1
		if out, _, ok := r.Forward(i+1, 0); !ok || out != 2*i {
			t.Fatalf("packet %d -> %d %v, want %d", i+1, out, ok, 2*i)
		}
		if out, _, ok := r.Pad(1); !ok || out != 2*i+1 {
			t.Fatalf("pad %d -> %d %v, want %d", i, out, ok, 2*i+1)
		}
	}
	if _, _, ok := r.Forward(6, 0); ok {
		t.Error("a packet behind a forgotten pad point was forwarded")
	}
	if out, _, ok := r.Forward(7, 0); !ok || out != 12 {
		t.Errorf("packet behind the oldest pad point remembered -> %d %v, want 12", out, ok)
	}
	if out, _, ok := r.Forward(pads, 0); !ok || out != 2*(pads-1) {
		t.Errorf("newest packet again -> %d %v, want %d", out, ok, 2*(pads-1))
	}
	for _, q := range []nack{{10, 0, false, false}, {11, 0, false, false}, {12, 7, true, false}, {13, 0, false, true}} {
		if in, ok := r.Reverse(q.out); ok != q.ok || (ok && in != q.in) {
			t.Errorf("Reverse(%d) = (%d, %v), want (%d, %v)", q.out, in, ok, q.in, q.ok)
		}
		if p := r.Padded(q.out); p != q.padded {
			t.Errorf("Padded(%d) = %v, want %v", q.out, p, q.padded)
		}
	}
}

func TestRewriterPadAllocs(t *testing.T) {
	r := NewRewriter(0, 0)
	var seq uint16
	n := testing.AllocsPerRun(1000, func() {
		seq++
		s, _, _ := r.Forward(seq, uint32(seq)*3000)
		r.Forward(seq-1, uint32(seq-1)*3000)
		p, _, _ := r.Pad(2)
		r.Reverse(s)
		r.Padded(p)
	})
	if n != 0 {
		t.Fatalf("Forward, Pad, Reverse and Padded allocate %v times per call", n)
	}
}

// BenchmarkRewritePadded rewrites in-order packets with a full history of
// pad points, as during a probe.
func BenchmarkRewritePadded(b *testing.B) {
	b.ReportAllocs()
	r := NewRewriter(1234, 5678)
	var seq uint16
	for range padHistory {
		seq++
		r.Rewrite(seq, uint32(seq)*3000)
		r.Pad(3)
	}
	for b.Loop() {
		seq++
		r.Forward(seq, uint32(seq)*3000)
	}
}

// BenchmarkReversePadded answers NACKs for packets behind every pad point
// remembered, the longest walk.
func BenchmarkReversePadded(b *testing.B) {
	b.ReportAllocs()
	r := NewRewriter(1234, 5678)
	var seq uint16
	first, _ := r.Rewrite(seq, 0)
	for range padHistory {
		seq++
		r.Rewrite(seq, uint32(seq)*3000)
		r.Pad(3)
	}
	for b.Loop() {
		r.Reverse(first)
	}
}
