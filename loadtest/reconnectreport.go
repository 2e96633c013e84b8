package loadtest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ReconnectResult is what one participant went through when its
// connection ended before the run did.
type ReconnectResult struct {
	// Disconnects are why its connections ended, one Disconnect.Reason
	// each ("1001 going away", "1006 dropped", "4409 replaced").
	Disconnects []string
	// Attempts counts its connection attempts other than its first:
	// rejoins after a disconnect and retries after a failed attempt;
	// Succeeded those that joined.
	Attempts, Succeeded int
	// Failures are the reasons of its failed attempts, its first
	// included ("refused", "http 503", "error invalid_token").
	Failures []string
	// RejoinMS is, for each rejoin, the time from the disconnect to
	// joined again.
	RejoinMS []float64
	// MediaGapMS is, for each publisher a subscriber received when either
	// lost its connection, the time from the publisher's last packet
	// before to its first packet after; VideoGapMS to its first keyframe
	// a decoder could show.
	MediaGapMS, VideoGapMS []float64
	// Unresumed counts such pauses after which no media had come back by
	// the end of the run.
	Unresumed int
	// NotBack is true if it lost its connection and had none at the end.
	NotBack bool
}

// clone returns a copy of r that shares no slice with it.
func (r ReconnectResult) clone() ReconnectResult {
	r.Disconnects, r.Failures = slices.Clone(r.Disconnects), slices.Clone(r.Failures)
	r.RejoinMS, r.MediaGapMS, r.VideoGapMS = slices.Clone(r.RejoinMS), slices.Clone(r.MediaGapMS), slices.Clone(r.VideoGapMS)
	return r
}

// ReconnectSummary sums the reconnections of a run: the figures of the
// media gap clients see when a node dies, drains or drops them.
type ReconnectSummary struct {
	// Disconnects counts the connections that ended before the run did,
	// by reason; Participants how many participants lost one.
	Disconnects  map[string]int `json:"disconnects"`
	Participants int            `json:"participants"`
	// Attempts are connection attempts other than each participant's
	// first; Succeeded those that joined. Failures counts every failed
	// attempt by reason, first attempts included.
	Attempts  int            `json:"attempts"`
	Succeeded int            `json:"succeeded"`
	Failures  map[string]int `json:"failures"`
	// NotBack counts participants that lost their connection and had
	// none at the end.
	NotBack int `json:"not_back"`
	// RejoinMS is from a disconnect to joined again.
	RejoinMS Percentiles `json:"rejoin_ms"`
	// Gaps counts the pauses measured, one per subscriber and publisher
	// it received, for each disconnect of either; MediaGapMS is from the
	// last packet before to the first after, VideoGapMS to the first
	// keyframe shown. Unresumed counts pauses with no media after.
	Gaps       int         `json:"gaps"`
	MediaGapMS Percentiles `json:"media_gap_ms"`
	VideoGapMS Percentiles `json:"video_gap_ms"`
	Unresumed  int         `json:"unresumed"`
}

// summarizeReconnects sums the participants' reconnections.
func summarizeReconnects(results []ParticipantResult) ReconnectSummary {
	s := ReconnectSummary{Disconnects: map[string]int{}, Failures: map[string]int{}}
	var rejoin, media, video []float64
	for _, p := range results {
		rc := p.Reconnect
		if len(rc.Disconnects) > 0 {
			s.Participants++
		}
		for _, d := range rc.Disconnects {
			s.Disconnects[d]++
		}
		for _, f := range rc.Failures {
			s.Failures[f]++
		}
		s.Attempts += rc.Attempts
		s.Succeeded += rc.Succeeded
		if rc.NotBack {
			s.NotBack++
		}
		rejoin = append(rejoin, rc.RejoinMS...)
		media = append(media, rc.MediaGapMS...)
		video = append(video, rc.VideoGapMS...)
		s.Unresumed += rc.Unresumed
	}
	s.Gaps = len(media)
	s.RejoinMS = PercentilesOf(rejoin)
	s.MediaGapMS = PercentilesOf(media)
	s.VideoGapMS = PercentilesOf(video)
	return s
}

// judge lists the ways the reconnections failed the run: participants
// that did not come back, media that did not resume.
func (s ReconnectSummary) judge() []string {
	var failures []string
	if s.NotBack > 0 {
		failures = append(failures, fmt.Sprintf("reconnect: %d participants lost their connection and had none at the end", s.NotBack))
	}
	if s.Unresumed > 0 {
		failures = append(failures, fmt.Sprintf("reconnect: media did not resume after %d of %d pauses", s.Unresumed, s.Unresumed+s.Gaps))
	}
	return failures
}

// writeTable writes the reconnections for a person to read, if there
// were any.
func (s ReconnectSummary) writeTable(p func(format string, args ...any)) {
	if len(s.Disconnects) == 0 && len(s.Failures) == 0 {
		return
	}
	const val = "%-14s %10s  %s\n"
	p("\nReconnects\n")
	p(val, "disconnects", fmt.Sprint(sum(s.Disconnects)), fmt.Sprintf("of %d participants (%s)", s.Participants, counts(s.Disconnects)))
	p(val, "attempts", fmt.Sprint(s.Attempts), fmt.Sprintf("%d succeeded; failed attempts: %d (%s)", s.Succeeded, sum(s.Failures), counts(s.Failures)))
	p(val, "not back", fmt.Sprint(s.NotBack), "participants without a connection at the end")
	const pct = "%-14s %10s %10s %10s  %s\n"
	p("\n"+pct, "", "p50", "p99", "max", "")
	p(pct, "rejoin", num(s.RejoinMS.P50, 0), num(s.RejoinMS.P99, 0), num(s.RejoinMS.Max, 0), "ms, disconnect to joined")
	p(pct, "media gap", num(s.MediaGapMS.P50, 0), num(s.MediaGapMS.P99, 0), num(s.MediaGapMS.Max, 0), fmt.Sprintf("ms, last packet to first after (%d pauses)", s.Gaps))
	p(pct, "video gap", num(s.VideoGapMS.P50, 0), num(s.VideoGapMS.P99, 0), num(s.VideoGapMS.Max, 0), "ms, last packet to first keyframe shown")
	p(val, "unresumed", fmt.Sprint(s.Unresumed), "pauses with no media after")
}

// counts writes "a 2, b 1", largest first.
func counts(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
