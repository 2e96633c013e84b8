package loadtest

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/sfu-project/sfu/rtp"
)

// TestLongestPacketGap: a track's longest pauses between new packets and
// between frames are measured between arrivals in time order: a packet
// stamped before the newest one (another goroutine's) neither shortens
// nor stretches them, and a duplicate is no new packet.
func TestLongestPacketGap(t *testing.T) {
	st := newTrackState(TrackCounts{}, 90000, true)
	start := time.Unix(1000, 0)
	// seq, arrival in ms, marker: frames of two packets, 4 came late, 6
	// twice, then a 300 ms pause before 8.
	for _, a := range []struct {
		seq    uint16
		ms     time.Duration
		marker bool
	}{{0, 0, false}, {1, 5, true}, {2, 30, false}, {3, 35, true}, {5, 60, true}, {4, 55, false}, {6, 70, false}, {6, 200, false}, {7, 75, true}, {8, 375, false}, {9, 380, true}} {
		p := &pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: a.seq, Timestamp: uint32(a.seq/2) * 3000, Marker: a.marker}, Payload: []byte{0x10, 0x11, 0, 0}}
		st.add(p, 16, rtp.CodecVP8, start.Add(a.ms*time.Millisecond))
	}
	c := st.counts
	if c.LongestPacketGap != 300*time.Millisecond || c.LongestFrameGap != 305*time.Millisecond {
		t.Errorf("longest packet gap %v, frame gap %v; want 300ms and 305ms", c.LongestPacketGap, c.LongestFrameGap)
	}
	if !c.LastFrame.Equal(start.Add(380*time.Millisecond)) || !c.LongestPacketGapAt.Equal(start.Add(75*time.Millisecond)) || !c.LongestFrameGapAt.Equal(start.Add(75*time.Millisecond)) {
		t.Errorf("last frame at %v, longest pauses from %v and %v; want 380ms, 75ms, 75ms",
			c.LastFrame.Sub(start), c.LongestPacketGapAt.Sub(start), c.LongestFrameGapAt.Sub(start))
	}
}

// TestPairGaps: a pair's longest pause is the longest within one of its
// tracks, between a track and the one that replaced it, or after its last
// media until the run's end, and it began when that stretch of media
// ended; a kind with no media is NaN.
func TestPairGaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// A track's own longest pause began 500 ms after its first packet.
	video := func(first, last, longest int) TrackCounts {
		return TrackCounts{Kind: "video", First: at(first), LastFrame: at(last - 5), Last: at(last),
			LongestFrameGap: time.Duration(longest) * time.Millisecond, LongestFrameGapAt: at(first + 500)}
	}
	audio := func(first, last, longest int) TrackCounts {
		return TrackCounts{Kind: "audio", First: at(first), Last: at(last),
			LongestPacketGap: time.Duration(longest) * time.Millisecond, LongestPacketGapAt: at(first + 500)}
	}
	none := -1
	tests := []struct {
		name             string
		tracks           []TrackCounts
		end              int
		video, audio     float64
		videoAt, audioAt int // ms; none for no time
	}{
		{"steady", []TrackCounts{video(100, 9995, 40), audio(100, 9995, 25)}, 10000, 40, 25, 600, 600},
		{"a pause inside", []TrackCounts{video(100, 9995, 1200), audio(100, 9995, 900)}, 10000, 1200, 900, 600, 600},
		{"stopped before the end", []TrackCounts{video(100, 4005, 40), audio(100, 4000, 25)}, 10000, 6000, 6000, 4000, 4000},
		{"a track replaced", []TrackCounts{video(5000, 9995, 40), video(100, 3005, 40), audio(100, 3000, 20), audio(3500, 9990, 20)}, 10000, 2000, 500, 3000, 3000},
		{"audio only", []TrackCounts{audio(100, 9990, 20)}, 10000, math.NaN(), 20, none, 600},
		{"video without a whole frame", []TrackCounts{{Kind: "video", First: at(100), Last: at(9990)}, audio(100, 9990, 20)}, 10000, math.NaN(), 20, none, 600},
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	when := func(ms int) time.Time {
		if ms == none {
			return time.Time{}
		}
		return at(ms)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, vAt, a, aAt := pairGaps(tt.tracks, time.Time{}, at(tt.end))
			if !same(v, tt.video) || !same(a, tt.audio) {
				t.Errorf("video %v ms, audio %v ms; want %v and %v", v, a, tt.video, tt.audio)
			}
			if !vAt.Equal(when(tt.videoAt)) || !aAt.Equal(when(tt.audioAt)) {
				t.Errorf("video pause at %v, audio at %v; want %d and %d ms", vAt.Sub(t0), aAt.Sub(t0), tt.videoAt, tt.audioAt)
			}
		})
	}
}

// TestReportContinuity: the pairs' pauses add up in the report, its JSON
// and its table, with the pair of the longest pause named; a run without
// pairs has no continuity section.
func TestReportContinuity(t *testing.T) {
	info, results, samples, cost := sampleRun()
	var b strings.Builder
	without := BuildReport(info, results, samples, cost)
	without.WriteTable(&b)
	if strings.Contains(b.String(), "Continuity") {
		t.Errorf("a run without pairs has a continuity section:\n%s", b.String())
	}

	results[2].Continuity = []PairContinuity{
		{Subscriber: "sub-0", Publisher: "pub-0", VideoGapMS: 40, AudioGapMS: 25},
		{Subscriber: "sub-0", Publisher: "pub-1", VideoGapMS: 60, AudioGapMS: 30},
	}
	results[3].Continuity = []PairContinuity{
		{Subscriber: "sub-1", Publisher: "pub-0", VideoGapMS: 35, AudioGapMS: 700, AudioGapAt: info.Started.Add(12500 * time.Millisecond)},
		{Subscriber: "sub-1", Publisher: "pub-1", VideoGapMS: math.NaN(), AudioGapMS: 20},
	}
	r := BuildReport(info, results, samples, cost)
	c := r.Continuity
	if c.Pairs != 4 || c.VideoGapMS.Max != 60 || c.VideoGapMS.P50 != 40 || c.AudioGapMS.Max != 700 || c.WorstPair != "sub-1 <- pub-0" || c.WorstAtS != 12.5 {
		t.Errorf("continuity %+v: want 4 pairs, video max 60 p50 40, audio max 700, worst sub-1 <- pub-0 at 12.5 s", c)
	}
	if !slices.Equal(r.Failures, without.Failures) {
		t.Errorf("failures %q, without the pairs %q: continuity is reported, not judged", r.Failures, without.Failures)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"continuity.pairs", "continuity.video_gap_ms.p50", "continuity.video_gap_ms.p99", "continuity.video_gap_ms.max",
		"continuity.audio_gap_ms.max", "continuity.worst_pair", "continuity.worst_at_s"} {
		if _, ok := lookup(doc, key); !ok {
			t.Errorf("JSON lacks %s", key)
		}
	}
	b.Reset()
	r.WriteTable(&b)
	t.Logf("\n%s", b.String())
	for _, want := range []string{"Continuity of the 4 pairs", "video", "60", "audio", "700", "worst pair", "sub-1 <- pub-0", "began 12.5 s into the run"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

// TestPausesBeforeFromNotCounted: with a start for the figures, a pause
// that ended before it counts neither within a track nor between tracks;
// one that ended after it does, however early it began.
func TestPausesBeforeFromNotCounted(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	from := at(2000)
	var gap time.Duration
	var gapAt, last time.Time
	for _, ms := range []int{0, 1000, 1100, 1400, 2500, 2600} {
		longest(&gap, &gapAt, &last, at(ms), from)
	}
	if gap != 1100*time.Millisecond || !gapAt.Equal(at(1400)) {
		t.Errorf("longest pause %v from %v, want 1.1s from 1.4s (the 1 s pause ended before the start)", gap, gapAt.Sub(t0))
	}
	tracks := []TrackCounts{
		{Kind: "audio", First: at(0), Last: at(500)},
		{Kind: "audio", First: at(1500), Last: at(3000)}, // the 1 s between them ended before from
	}
	if _, _, a, _ := pairGaps(tracks, from, at(3000)); a != 0 {
		t.Errorf("audio pause %v ms, want 0: the pause between the tracks ended before the start", a)
	}
	if _, _, a, _ := pairGaps(tracks, time.Time{}, at(3000)); a != 1000 {
		t.Errorf("audio pause %v ms without a start, want 1000", a)
	}
}
