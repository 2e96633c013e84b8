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

// TestLongestPacketGap: a track's longest pause between packets is
// measured between arrivals in time order: a packet stamped before the
// newest one (another goroutine's) neither shortens nor stretches it.
func TestLongestPacketGap(t *testing.T) {
	st := newTrackState(TrackCounts{}, 48000, false)
	start := time.Unix(1000, 0)
	at := []time.Duration{0, 20, 40, 35, 60, 360, 380} // ms; 35 came late, then a 300 ms pause
	for i, d := range at {
		p := &pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i * 960)}, Payload: []byte{1, 2, 3}}
		st.add(p, 15, rtp.CodecOpus, start.Add(d*time.Millisecond))
	}
	if got := st.counts.LongestPacketGap; got != 300*time.Millisecond {
		t.Errorf("longest packet gap %v, want 300ms", got)
	}
	if got := st.counts.Last; !got.Equal(start.Add(380 * time.Millisecond)) {
		t.Errorf("last packet at %v, want the newest arrival", got.Sub(start))
	}
}

// TestPairGaps: a pair's longest pause is the longest within one of its
// tracks, between a track and the one that replaced it, or after its last
// media until the run's end; a kind with no media is NaN.
func TestPairGaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	video := func(first, last, longest int) TrackCounts {
		return TrackCounts{Kind: "video", First: at(first - 5), FirstKeyframe: at(first), LastShown: at(last), Last: at(last), LongestGap: time.Duration(longest) * time.Millisecond}
	}
	audio := func(first, last, longest int) TrackCounts {
		return TrackCounts{Kind: "audio", First: at(first), Last: at(last), LongestPacketGap: time.Duration(longest) * time.Millisecond}
	}
	tests := []struct {
		name         string
		tracks       []TrackCounts
		end          int
		video, audio float64
	}{
		{"steady", []TrackCounts{video(100, 9990, 40), audio(100, 9995, 25)}, 10000, 40, 25},
		{"a pause inside", []TrackCounts{video(100, 9990, 1200), audio(100, 9995, 900)}, 10000, 1200, 900},
		{"stopped before the end", []TrackCounts{video(100, 4000, 40), audio(100, 4000, 25)}, 10000, 6000, 6000},
		{"a track replaced", []TrackCounts{video(5000, 9990, 40), video(100, 3000, 40), audio(100, 3000, 20), audio(3500, 9990, 20)}, 10000, 2000, 500},
		{"audio only", []TrackCounts{audio(100, 9990, 20)}, 10000, math.NaN(), 20},
		{"video never shown", []TrackCounts{{Kind: "video", First: at(100), Last: at(9990)}, audio(100, 9990, 20)}, 10000, math.NaN(), 20},
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, a := pairGaps(tt.tracks, at(tt.end))
			if !same(v, tt.video) || !same(a, tt.audio) {
				t.Errorf("video %v ms, audio %v ms; want %v and %v", v, a, tt.video, tt.audio)
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
		{Subscriber: "sub-1", Publisher: "pub-0", VideoGapMS: 35, AudioGapMS: 700},
		{Subscriber: "sub-1", Publisher: "pub-1", VideoGapMS: math.NaN(), AudioGapMS: 20},
	}
	r := BuildReport(info, results, samples, cost)
	c := r.Continuity
	if c.Pairs != 4 || c.VideoGapMS.Max != 60 || c.VideoGapMS.P50 != 40 || c.AudioGapMS.Max != 700 || c.WorstPair != "sub-1 <- pub-0" {
		t.Errorf("continuity %+v: want 4 pairs, video max 60 p50 40, audio max 700, worst sub-1 <- pub-0", c)
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
		"continuity.audio_gap_ms.max", "continuity.worst_pair"} {
		if _, ok := lookup(doc, key); !ok {
			t.Errorf("JSON lacks %s", key)
		}
	}
	b.Reset()
	r.WriteTable(&b)
	t.Logf("\n%s", b.String())
	for _, want := range []string{"Continuity of the 4 pairs", "video", "60", "audio", "700", "worst pair", "sub-1 <- pub-0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}
