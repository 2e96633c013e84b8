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
