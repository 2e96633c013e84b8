package loadtest

import (
	"testing"
	"time"
)

// TestMoveGapPause: the pause across a move is the longest hole, from the
// move on, in the union of what the publisher's tracks delivered of one
// kind; overlapping sessions make none; it is known only once media of
// every kind came after the moves finished.
func TestMoveGapPause(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	old, next := &Client{}, &Client{}
	for _, tc := range []struct {
		name  string
		spans map[spanKey]mediaSpan
		pause time.Duration
		over  bool
	}{
		{"overlap", map[spanKey]mediaSpan{
			{old, "a"}:  {start: at(0), end: at(3000)},
			{old, "v"}:  {video: true, start: at(0), end: at(3000)},
			{next, "a"}: {start: at(1500), end: at(5000)},
			{next, "v"}: {video: true, start: at(1600), end: at(5000)},
		}, 0, true},
		{"break before make", map[spanKey]mediaSpan{
			{old, "a"}:  {start: at(0), end: at(1100)},
			{old, "v"}:  {video: true, start: at(0), end: at(1100)},
			{next, "a"}: {start: at(1500), end: at(5000)},
			{next, "v"}: {video: true, start: at(1900), end: at(5000)},
		}, 800 * time.Millisecond, true},
		{"a hole before the move does not count", map[spanKey]mediaSpan{
			{old, "v1"}: {video: true, start: at(-5000), end: at(-3000)},
			{old, "v2"}: {video: true, start: at(-1000), end: at(3000)},
			{next, "v"}: {video: true, start: at(2000), end: at(5000)},
		}, 0, true},
		{"a hole across the move's start counts", map[spanKey]mediaSpan{
			{old, "v1"}: {video: true, start: at(-5000), end: at(900)},
			{old, "v2"}: {video: true, start: at(1200), end: at(3000)},
			{next, "v"}: {video: true, start: at(2000), end: at(5000)},
		}, 300 * time.Millisecond, true},
		{"video not back after the move finished", map[spanKey]mediaSpan{
			{old, "a"}:  {start: at(0), end: at(3000)},
			{old, "v"}:  {video: true, start: at(0), end: at(3000)},
			{next, "a"}: {start: at(1500), end: at(5000)},
		}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &moveGap{since: at(1000), doneAt: at(3000), spans: tc.spans}
			pause, over := g.pause()
			if pause != tc.pause || over != tc.over {
				t.Errorf("pause %s, over %v; want %s, %v", pause, over, tc.pause, tc.over)
			}
			if !g.hadMedia() {
				t.Error("hadMedia false with media before the move")
			}
		})
	}
}

// TestMoveGapsOpenAndEnd: a move opens a gap per pair of subscriber and
// publisher in the room, the subscriber's own when it moved; a pair whose
// both ends move waits for both moves to finish.
func TestMoveGapsOpenAndEnd(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pub, far := &participant{publisher: true}, &participant{publisher: true, index: 1, room: 1}
	sub := &participant{}
	r := &loadRun{parts: []*participant{pub, far, sub}}
	r.openMoveGapsLocked(sub, t0)
	r.openMoveGapsLocked(pub, t0.Add(time.Second))
	if len(sub.moveGaps) != 1 || sub.moveGaps[pub] == nil {
		t.Fatalf("gaps %v: want pub's only, not the other room's", sub.moveGaps)
	}
	g := sub.moveGaps[pub]
	if !g.moved || !g.since.Equal(t0) || g.pending != 2 {
		t.Fatalf("gap %+v: want the subscriber's, since its move, two moves pending", g)
	}
	r.endMoveLocked(sub, t0.Add(2*time.Second))
	r.checkMoveGapsLocked(sub)
	if sub.moveGaps[pub] == nil {
		t.Fatal("the gap closed while the publisher still moved")
	}
	r.endMoveLocked(pub, t0.Add(3*time.Second))
	if g.pending != 0 || !g.doneAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("gap %+v after both moves ended", g)
	}
	r.checkMoveGapsLocked(sub)
	if len(sub.moveGaps) != 0 || len(sub.mv.MovedGapMS) != 0 {
		t.Errorf("a gap with no media before the move: open %d, recorded %v; want dropped", len(sub.moveGaps), sub.mv.MovedGapMS)
	}
}

// TestUnresumedMovesSaid: a pair whose audio stopped before its moves
// ended, and never came back, is reported with who, what and since when;
// a pair whose media came back is not.
func TestUnresumedMovesSaid(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pub, back := &participant{publisher: true}, &participant{publisher: true, index: 1}
	sub := &participant{}
	c := &Client{}
	sub.moveGaps = map[*participant]*moveGap{
		pub: {since: t0, doneAt: t0.Add(3 * time.Second), spans: map[spanKey]mediaSpan{
			{c, "a"}: {start: t0.Add(-time.Second), end: t0.Add(time.Second)},
			{c, "v"}: {video: true, start: t0.Add(-time.Second), end: t0.Add(9 * time.Second)},
		}, unshown: map[spanKey]bool{{c, "v2"}: true}},
		back: {since: t0, doneAt: t0.Add(3 * time.Second), spans: map[spanKey]mediaSpan{
			{c, "a1"}: {start: t0.Add(-time.Second), end: t0.Add(9 * time.Second)},
		}},
	}
	(&loadRun{}).checkMoveGapsLocked(sub) // records the resumed one, as a run does first
	if len(sub.mv.OthersGapMS) != 1 {
		t.Errorf("resumed gaps recorded: %v, want one", sub.mv.OthersGapMS)
	}
	got := unresumedMovesLocked(sub)
	want := "sub-0 from pub-0: no audio since the moves ended (1 tracks of it, the last media 2s before; 1 video tracks since with no keyframe shown)"
	if len(got) != 1 || got[0] != want {
		t.Errorf("unresumed: %q, want [%q]", got, want)
	}
}
