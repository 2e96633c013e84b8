package loadtest

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReportMoves: the participants' moves are summed in the report, in
// its JSON and its table, apart from the reconnections; a pause after
// which media did not come back fails the run.
func TestReportMoves(t *testing.T) {
	info, results, samples, cost := sampleRun()
	var b strings.Builder
	BuildReport(info, results, samples, cost).WriteTable(&b)
	if strings.Contains(b.String(), "Moves") {
		t.Errorf("a run without moves has a move section:\n%s", b.String())
	}

	results[0].Move = MoveResult{Moves: 1, Attempts: 2, Failures: []string{"error unavailable"}, OverlapMS: []float64{1200}}
	results[2].Move = MoveResult{Moves: 1, Attempts: 1, OverlapMS: []float64{1100}, MovedGapMS: []float64{0, 40}, OthersGapMS: []float64{120}}
	results[3].Move = MoveResult{Failed: 1, Attempts: 1, Failures: []string{"error unavailable"}, OthersGapMS: []float64{0}, Unresumed: 1, UnresumedWhat: []string{"sub-3 from pub-0: no video"}}
	r := BuildReport(info, results, samples, cost)
	m := r.Moves
	if m.Moves != 2 || m.Participants != 2 || m.Failed != 1 || m.Attempts != 4 || m.Failures["error unavailable"] != 2 {
		t.Errorf("moves %+v", m)
	}
	if m.Gaps != 4 || m.MovedGapMS.Max != 40 || m.OthersGapMS.Max != 120 || m.OverlapMS.Max != 1200 || m.Unresumed != 1 {
		t.Errorf("gaps %d: moved %+v, others %+v, overlap %+v, unresumed %d", m.Gaps, m.MovedGapMS, m.OthersGapMS, m.OverlapMS, m.Unresumed)
	}
	if len(m.UnresumedWhat) != 1 || m.UnresumedWhat[0] != "sub-3 from pub-0: no video" {
		t.Errorf("unresumed, said: %q", m.UnresumedWhat)
	}
	if r.Reconnects.Participants != 0 {
		t.Errorf("moves counted as reconnections: %+v", r.Reconnects)
	}
	failed := false
	for _, f := range r.Failures {
		failed = failed || strings.Contains(f, "move: media did not resume after 1 of 5 pauses")
	}
	if !failed {
		t.Errorf("failures %q: want the pause not resumed", r.Failures)
	}
	b.Reset()
	r.WriteTable(&b)
	t.Logf("\n%s", b.String())
	for _, want := range []string{"Moves (make before break)", "by 2 participants", "1 failed", "error unavailable 2", "gap, moved", "gap, others", "120", "1200"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"moves.moves", "moves.participants", "moves.failed", "moves.attempts", "moves.failures",
		"moves.overlap_ms.max", "moves.moved_gap_ms.max", "moves.others_gap_ms.p50", "moves.gaps", "moves.unresumed"} {
		if _, ok := lookup(doc, key); !ok {
			t.Errorf("JSON lacks %s", key)
		}
	}
}
