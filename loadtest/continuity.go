package loadtest

// Media continuity: how steadily the participants that kept their
// connection through a run received one another, whatever happened to
// the others (a node killed under part of a room, say).

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// PairContinuity is how steadily a subscriber that kept its connection
// through the run received a publisher that kept its own.
type PairContinuity struct {
	Subscriber, Publisher string // identities
	// VideoGapMS is the longest pause between the arrivals of two video
	// frames (their last packets), from the first packet until the run's
	// last media packet; AudioGapMS between two audio packets. NaN if the
	// subscriber received none of that kind from the publisher.
	VideoGapMS, AudioGapMS float64
	// VideoGapAt and AudioGapAt are when those pauses began.
	VideoGapAt, AudioGapAt time.Time
}

// ContinuitySummary sums the pairs' continuity: the pauses participants
// that never lost their connection saw in each other's media, for
// instance while a node serving others of their room died.
type ContinuitySummary struct {
	// Pairs counts the subscriber and publisher pairs measured: both kept
	// their first connection to the end, and the subscriber received some
	// of the publisher's media.
	Pairs int `json:"pairs"`
	// VideoGapMS and AudioGapMS are, over the pairs, the longest pause in
	// each pair's video (between frames received) and audio (between
	// packets).
	VideoGapMS Percentiles `json:"video_gap_ms"`
	AudioGapMS Percentiles `json:"audio_gap_ms"`
	// WorstPair names the pair with the longest pause, video or audio:
	// "SUBSCRIBER <- PUBLISHER"; WorstAtS is when that pause began, in
	// seconds since the run started.
	WorstPair string  `json:"worst_pair"`
	WorstAtS  float64 `json:"worst_at_s"`
}

// summarizeContinuity sums the subscribers' pairs of a run that started
// at started.
func summarizeContinuity(results []ParticipantResult, started time.Time) ContinuitySummary {
	var s ContinuitySummary
	var video, audio []float64
	worst := -1.0
	for _, p := range results {
		for _, pc := range p.Continuity {
			s.Pairs++
			video = append(video, pc.VideoGapMS)
			audio = append(audio, pc.AudioGapMS)
			// A NaN, no media of the kind, is never the worst.
			for _, g := range []struct {
				ms float64
				at time.Time
			}{{pc.VideoGapMS, pc.VideoGapAt}, {pc.AudioGapMS, pc.AudioGapAt}} {
				if g.ms > worst {
					worst, s.WorstPair, s.WorstAtS = g.ms, pc.Subscriber+" <- "+pc.Publisher, 0
					if !started.IsZero() && !g.at.IsZero() {
						s.WorstAtS = g.at.Sub(started).Seconds()
					}
				}
			}
		}
	}
	s.VideoGapMS = PercentilesOf(video)
	s.AudioGapMS = PercentilesOf(audio)
	return s
}

// writeTable writes the continuity for a person to read, if any pair was
// measured.
func (s ContinuitySummary) writeTable(p func(format string, args ...any)) {
	if s.Pairs == 0 {
		return
	}
	const pct = "%-14s %10s %10s %10s  %s\n"
	p("\nContinuity of the %d pairs that kept their connections (longest pause of each pair)\n", s.Pairs)
	p(pct, "", "p50", "p99", "max", "")
	p(pct, "video", num(s.VideoGapMS.P50, 0), num(s.VideoGapMS.P99, 0), num(s.VideoGapMS.Max, 0), "ms between frames received")
	p(pct, "audio", num(s.AudioGapMS.P50, 0), num(s.AudioGapMS.P99, 0), num(s.AudioGapMS.Max, 0), "ms between packets")
	p("%-14s %10s  %s\n", "worst pair", s.WorstPair, fmt.Sprintf("its pause began %.1f s into the run", s.WorstAtS))
}

// continuityLocked measures, for each subscriber that kept its first
// connection to the end, how steadily it received each publisher that
// kept its own; by subscriber. The pauses run until the run's last media
// packet, which any participant received.
func (r *loadRun) continuityLocked() map[*participant][]PairContinuity {
	kept := func(p *participant) bool { return p.client != nil && p.joins == 1 && len(p.rc.Disconnects) == 0 }
	received := map[*participant]map[string]TrackCounts{}
	var end time.Time
	for _, p := range r.parts {
		if p.client == nil || p.publisher {
			continue
		}
		tracks := p.client.Received()
		for _, tc := range tracks {
			end = latest(end, tc.Last)
		}
		if kept(p) {
			received[p] = tracks
		}
	}
	out := map[*participant][]PairContinuity{}
	for sub, tracks := range received {
		byPub := map[*participant][]TrackCounts{}
		for _, tc := range tracks {
			if pub := r.pubIDs[tc.ParticipantID]; pub != nil && pub.room == sub.room && kept(pub) && !tc.First.IsZero() {
				byPub[pub] = append(byPub[pub], tc)
			}
		}
		for pub, tcs := range byPub {
			pc := PairContinuity{Subscriber: sub.identity(), Publisher: pub.identity()}
			var from time.Time
			if r.cfg.ContinuityFrom > 0 {
				from = r.started.Add(r.cfg.ContinuityFrom)
			}
			pc.VideoGapMS, pc.VideoGapAt, pc.AudioGapMS, pc.AudioGapAt = pairGaps(tcs, from, end)
			out[sub] = append(out[sub], pc)
		}
		slices.SortFunc(out[sub], func(a, b PairContinuity) int { return strings.Compare(a.Publisher, b.Publisher) })
	}
	return out
}

// pairGaps is the longest pause in the video and the audio of tracks, one
// publisher's tracks as one subscriber received them, until end, and when
// each began: within a track, between a track and the next of its kind (a
// track the server replaced), and after the last; a pause that ended
// before from is not counted. NaN for a kind with nothing received.
func pairGaps(tracks []TrackCounts, from, end time.Time) (video float64, videoAt time.Time, audio float64, audioAt time.Time) {
	var v, a []span
	for _, tc := range tracks {
		switch {
		case tc.First.IsZero():
		case tc.Kind != "video":
			a = append(a, span{tc.First, tc.Last, tc.LongestPacketGap, tc.LongestPacketGapAt})
		case !tc.LastFrame.IsZero():
			v = append(v, span{tc.First, tc.LastFrame, tc.LongestFrameGap, tc.LongestFrameGapAt})
		}
	}
	video, videoAt = longestPause(v, from, end)
	audio, audioAt = longestPause(a, from, end)
	return video, videoAt, audio, audioAt
}

// span is the stretch over which one track flowed: its first and last
// media, and its longest pause in between and when that began.
type span struct {
	first, last time.Time
	longest     time.Duration
	longestAt   time.Time
}

// longestPause is the longest pause, in ms, in the media of spans,
// successive tracks of one kind, until end, and when it began, counting
// the pauses between tracks that ended at or after from; NaN without
// spans.
func longestPause(spans []span, from, end time.Time) (float64, time.Time) {
	if len(spans) == 0 {
		return math.NaN(), time.Time{}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.Compare(b.first) })
	var gap time.Duration
	var at time.Time
	longer := func(d time.Duration, from time.Time) {
		if d > gap {
			gap, at = d, from
		}
	}
	last := spans[0].last
	for _, s := range spans {
		longer(s.longest, s.longestAt)
		if !s.first.Before(from) {
			longer(s.first.Sub(last), last)
		}
		last = latest(last, s.last)
	}
	longer(end.Sub(last), last)
	return ms(gap), at
}
