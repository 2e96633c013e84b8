package loadtest

// The pause a subscriber sees from one publisher when either moves. Both
// sessions of the mover are in the room for a while, so the subscriber
// receives the publisher's media on several tracks, possibly on two
// connections of its own: the pause is the longest hole in the union of
// what those tracks delivered, per kind, from the move on. A video track
// that started after the move counts from its first keyframe shown.

import (
	"fmt"
	"slices"
	"time"
)

// moveGap follows one subscriber's media from one publisher across the
// moves of either.
type moveGap struct {
	since   time.Time // the first move's message
	moved   bool      // the subscriber moved first (else the publisher)
	pending int       // moves of the pair not finished yet
	doneAt  time.Time // when the last of them finished
	spans   map[spanKey]mediaSpan
	unshown map[spanKey]bool // video tracks started after the move, no keyframe shown yet
}

// spanKey names one track of one of the subscriber's connections.
type spanKey struct {
	c     *Client
	track string
}

// mediaSpan is when a track delivered media a decoder could use.
type mediaSpan struct {
	video      bool
	start, end time.Time
}

// openMoveGapsLocked opens the gaps p's move at since makes: a
// publisher's at every subscriber of its room, a subscriber's for every
// publisher of its room. A pair with a gap open already waits for this
// move too.
func (r *loadRun) openMoveGapsLocked(p *participant, since time.Time) {
	for _, o := range r.parts {
		if o.room != p.room || o.publisher == p.publisher {
			continue
		}
		sub, pub := o, p
		if !p.publisher {
			sub, pub = p, o
		}
		if sub.moveGaps == nil {
			sub.moveGaps = map[*participant]*moveGap{}
		}
		g := sub.moveGaps[pub]
		if g == nil {
			g = &moveGap{since: since, moved: sub == p, spans: map[spanKey]mediaSpan{}}
			sub.moveGaps[pub] = g
		}
		g.pending++
	}
}

// endMoveLocked records that p's move ended at: its old session is gone,
// or it found no new one.
func (r *loadRun) endMoveLocked(p *participant, at time.Time) {
	for _, o := range r.parts {
		if o.room != p.room || o.publisher == p.publisher {
			continue
		}
		sub, pub := o, p
		if !p.publisher {
			sub, pub = p, o
		}
		if g := sub.moveGaps[pub]; g != nil && g.pending > 0 {
			g.pending--
			g.doneAt = at
		}
	}
}

// noteMoveSpansLocked records what sub's connection c received from the
// publishers of its open move gaps.
func (r *loadRun) noteMoveSpansLocked(sub *participant, c *Client) {
	if len(sub.moveGaps) == 0 || c == nil {
		return
	}
	for key, tc := range c.Received() {
		g := sub.moveGaps[r.pubIDs[tc.ParticipantID]]
		if g == nil || tc.First.IsZero() {
			continue
		}
		s := mediaSpan{video: tc.Kind == "video", start: tc.First, end: tc.Last}
		if s.video && !tc.First.Before(g.since) {
			if tc.FirstKeyframe.IsZero() {
				if g.unshown == nil {
					g.unshown = map[spanKey]bool{}
				}
				g.unshown[spanKey{c, key}] = true
				continue // nothing shown yet
			}
			delete(g.unshown, spanKey{c, key})
			s.start = latest(tc.FirstKeyframe, tc.First)
		}
		g.spans[spanKey{c, key}] = s
	}
}

// checkMoveGapsLocked records sub's move gaps that are over: every move
// of the pair finished and media of each kind came after.
func (r *loadRun) checkMoveGapsLocked(sub *participant) {
	if len(sub.moveGaps) == 0 {
		return
	}
	r.noteMoveSpansLocked(sub, sub.client)
	r.noteMoveSpansLocked(sub, sub.leaving)
	for pub, g := range sub.moveGaps {
		if g.pending > 0 {
			continue
		}
		if !g.hadMedia() {
			delete(sub.moveGaps, pub) // nothing to pause
			continue
		}
		pause, over := g.pause()
		if !over {
			continue
		}
		if g.moved {
			sub.mv.MovedGapMS = append(sub.mv.MovedGapMS, ms(pause))
		} else {
			sub.mv.OthersGapMS = append(sub.mv.OthersGapMS, ms(pause))
		}
		delete(sub.moveGaps, pub)
	}
}

// pause is the longest hole, from the move on, in what the gap's tracks
// delivered of one kind; over is false while media of a kind the
// subscriber received before has not come since the moves finished.
func (g *moveGap) pause() (pause time.Duration, over bool) {
	for _, video := range []bool{false, true} {
		spans := g.spansOf(video)
		if len(spans) == 0 {
			continue
		}
		slices.SortFunc(spans, func(a, b mediaSpan) int { return a.start.Compare(b.start) })
		end := spans[0].end
		for _, s := range spans[1:] {
			if s.start.After(end) && s.start.After(g.since) {
				pause = max(pause, s.start.Sub(end))
			}
			end = latest(end, s.end)
		}
		if !end.After(g.doneAt) {
			return 0, false
		}
	}
	return pause, true
}

// spansOf returns the gap's spans of video or audio.
func (g *moveGap) spansOf(video bool) []mediaSpan {
	var spans []mediaSpan
	for _, s := range g.spans {
		if s.video == video {
			spans = append(spans, s)
		}
	}
	return spans
}

// hadMedia reports whether the subscriber received the publisher's media
// before the move.
func (g *moveGap) hadMedia() bool {
	for _, s := range g.spans {
		if s.start.Before(g.since) {
			return true
		}
	}
	return false
}

// unresumedMovesLocked describes sub's move gaps whose moves finished
// but after which media had not come back, one line each.
func unresumedMovesLocked(sub *participant) []string {
	var out []string
	for pub, g := range sub.moveGaps {
		if g.pending == 0 && !g.doneAt.IsZero() && g.hadMedia() {
			out = append(out, fmt.Sprintf("%s from %s: %s", sub.identity(), pub.identity(), g.stalled()))
		}
	}
	slices.Sort(out)
	return out
}

// stalled says which kind of media did not come after the moves ended,
// for a report.
func (g *moveGap) stalled() string {
	for _, video := range []bool{false, true} {
		spans := g.spansOf(video)
		var end time.Time
		for _, s := range spans {
			end = latest(end, s.end)
		}
		if len(spans) == 0 || end.After(g.doneAt) {
			continue
		}
		kind := "audio"
		if video {
			kind = "video"
		}
		return fmt.Sprintf("no %s since the moves ended (%d tracks of it, the last media %v before; %d video tracks since with no keyframe shown)",
			kind, len(spans), g.doneAt.Sub(end).Round(time.Millisecond), len(g.unshown))
	}
	return "media resumed"
}
