package loadtest

import (
	"fmt"
	"slices"
)

// MoveResult is what one participant went through when its node asked it
// to move (make before break, see move.go), and what the moves of the
// publishers it received did to its media.
type MoveResult struct {
	// Moves counts its moves done: a new session joined and the old one
	// left. Unsettled counts those whose new session received media on
	// fewer tracks than the old one after MoveSettle; Failed the moves
	// that found no new session (it rejoined once the old one ended).
	Moves, Unsettled, Failed int
	// Attempts counts the sessions it tried to open to move; Failures
	// are why those that failed did ("http 503", "error unavailable").
	Attempts int
	Failures []string
	// OverlapMS is, for each move, how long it held two sessions: from
	// the move message to leaving the old one.
	OverlapMS []float64
	// MovedGapMS is, for each publisher a subscriber received, the
	// longest pause in that publisher's media across the subscriber's
	// own move; OthersGapMS the same across the publisher's move. A
	// pause is a hole in what it received of one kind (video from its
	// first keyframe shown), from the move on; 0 when media overlapped.
	MovedGapMS, OthersGapMS []float64
	// Unresumed counts such pauses after which no media had come back
	// by the end of the run; UnresumedWhat describes each.
	Unresumed     int
	UnresumedWhat []string
}

// clone returns a copy of m that shares no slice with it.
func (m MoveResult) clone() MoveResult {
	m.Failures, m.OverlapMS = slices.Clone(m.Failures), slices.Clone(m.OverlapMS)
	m.MovedGapMS, m.OthersGapMS = slices.Clone(m.MovedGapMS), slices.Clone(m.OthersGapMS)
	m.UnresumedWhat = slices.Clone(m.UnresumedWhat)
	return m
}

// MoveSummary sums the moves of a run: the media gap clients see when a
// node is drained.
type MoveSummary struct {
	// Moves counts the moves done, Participants how many participants
	// moved at least once; Unsettled and Failed as in MoveResult.
	Moves        int `json:"moves"`
	Participants int `json:"participants"`
	Unsettled    int `json:"unsettled"`
	Failed       int `json:"failed"`
	// Attempts are the sessions opened to move; Failures counts the
	// failed ones by reason.
	Attempts  int            `json:"attempts"`
	Failures  map[string]int `json:"failures"`
	OverlapMS Percentiles    `json:"overlap_ms"`
	// MovedGapMS is the pause a subscriber saw across its own move, per
	// publisher; OthersGapMS across a publisher's move. Max is the
	// longest.
	MovedGapMS  Percentiles `json:"moved_gap_ms"`
	OthersGapMS Percentiles `json:"others_gap_ms"`
	Gaps        int         `json:"gaps"`
	Unresumed   int         `json:"unresumed"`
	// UnresumedWhat says, for each pause not resumed, who missed what.
	UnresumedWhat []string `json:"unresumed_what,omitempty"`
}

// summarizeMoves sums the participants' moves.
func summarizeMoves(results []ParticipantResult) MoveSummary {
	s := MoveSummary{Failures: map[string]int{}}
	var overlap, moved, others []float64
	for _, p := range results {
		m := p.Move
		if m.Moves > 0 {
			s.Participants++
		}
		s.Moves += m.Moves
		s.Unsettled += m.Unsettled
		s.Failed += m.Failed
		s.Attempts += m.Attempts
		for _, f := range m.Failures {
			s.Failures[f]++
		}
		overlap = append(overlap, m.OverlapMS...)
		moved = append(moved, m.MovedGapMS...)
		others = append(others, m.OthersGapMS...)
		s.Unresumed += m.Unresumed
		s.UnresumedWhat = append(s.UnresumedWhat, m.UnresumedWhat...)
	}
	s.Gaps = len(moved) + len(others)
	s.OverlapMS = PercentilesOf(overlap)
	s.MovedGapMS = PercentilesOf(moved)
	s.OthersGapMS = PercentilesOf(others)
	return s
}

// judge lists the ways the moves failed the run: media that did not
// resume after one.
func (s MoveSummary) judge() []string {
	if s.Unresumed > 0 {
		return []string{fmt.Sprintf("move: media did not resume after %d of %d pauses", s.Unresumed, s.Unresumed+s.Gaps)}
	}
	return nil
}

// writeTable writes the moves for a person to read, if there were any.
func (s MoveSummary) writeTable(p func(format string, args ...any)) {
	if s.Moves == 0 && s.Failed == 0 && s.Attempts == 0 {
		return
	}
	const val = "%-14s %10s  %s\n"
	p("\nMoves (make before break)\n")
	p(val, "moves", fmt.Sprint(s.Moves), fmt.Sprintf("by %d participants; %d unsettled after %s, %d failed (rejoined)", s.Participants, s.Unsettled, MoveSettle, s.Failed))
	p(val, "attempts", fmt.Sprint(s.Attempts), fmt.Sprintf("failed attempts: %d (%s)", sum(s.Failures), counts(s.Failures)))
	const pct = "%-14s %10s %10s %10s  %s\n"
	p("\n"+pct, "", "p50", "p99", "max", "")
	p(pct, "overlap", num(s.OverlapMS.P50, 0), num(s.OverlapMS.P99, 0), num(s.OverlapMS.Max, 0), "ms, move message to the old session left")
	p(pct, "gap, moved", num(s.MovedGapMS.P50, 0), num(s.MovedGapMS.P99, 0), num(s.MovedGapMS.Max, 0), "ms, a mover's pause in a publisher's media")
	p(pct, "gap, others", num(s.OthersGapMS.P50, 0), num(s.OthersGapMS.P99, 0), num(s.OthersGapMS.Max, 0), "ms, a subscriber's pause in a moving publisher's media")
	p(val, "unresumed", fmt.Sprint(s.Unresumed), "pauses with no media after")
	for _, w := range s.UnresumedWhat {
		p("  %s\n", w)
	}
}
