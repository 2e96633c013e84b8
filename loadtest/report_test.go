package loadtest

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentilesOf(t *testing.T) {
	seq := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(n - i) // descending: PercentilesOf must sort
		}
		return v
	}
	tests := []struct {
		name   string
		values []float64
		want   Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"only NaN", []float64{math.NaN()}, Percentiles{}},
		{"one", []float64{7}, Percentiles{P50: 7, P95: 7, P99: 7, Max: 7}},
		{"two", []float64{2, 1}, Percentiles{P50: 1, P95: 2, P99: 2, Max: 2}},
		{"four", []float64{4, 1, 3, 2}, Percentiles{P50: 2, P95: 4, P99: 4, Max: 4}},
		// 0.95 × 20 is 19.000000000000004 in floating point: rank 19, not 20.
		{"twenty", seq(20), Percentiles{P50: 10, P95: 19, P99: 20, Max: 20}},
		{"hundred", seq(100), Percentiles{P50: 50, P95: 95, P99: 99, Max: 100}},
		{"thousand", seq(1000), Percentiles{P50: 500, P95: 950, P99: 990, Max: 1000}},
		{"NaN ignored", []float64{math.NaN(), 3, 1, math.NaN(), 2}, Percentiles{P50: 2, P95: 3, P99: 3, Max: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.values)
			if got := PercentilesOf(tt.values); got != tt.want {
				t.Errorf("PercentilesOf = %+v, want %+v", got, tt.want)
			}
			if !slices.EqualFunc(in, tt.values, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
				t.Errorf("input modified: %v, was %v", tt.values, in)
			}
		})
	}
}

// sampleRun is a small run: two publishers, three subscribers, one of
// which joined late and lost packets.
func sampleRun() (RunInfo, []ParticipantResult, []Second, WatchSummary) {
	info := RunInfo{
		Started:     time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Duration:    30 * time.Second,
		URLs:        []string{"ws://127.0.0.1:7880/ws"},
		Rooms:       1,
		Publishers:  2,
		Subscribers: 3,
	}
	results := []ParticipantResult{
		{Publisher: true, JoinMS: 50, PacketsReceived: 100},
		{Publisher: true, JoinMS: 60, PacketsReceived: 100},
		{JoinMS: 100, FirstMediaMS: 200, TracksExpected: 4, TracksReceived: 4, BitrateKbps: 1000,
			PacketsReceived: 900, PacketsLost: 0, JitterMS: 2, LatencyMS: []float64{10, 20}},
		{JoinMS: 120, FirstMediaMS: 220, TracksExpected: 4, TracksReceived: 4, BitrateKbps: 1200,
			PacketsReceived: 1000, PacketsLost: 0, JitterMS: 3, LatencyMS: []float64{30}},
		{JoinMS: 900, FirstMediaMS: 800, TracksExpected: 4, TracksReceived: 3, BitrateKbps: 500,
			PacketsReceived: 900, PacketsLost: 100, Freezes: 2, JitterMS: 8, LatencyMS: []float64{40, 50}},
	}
	samples := []Second{{T: 1, Subscribers: 3, BitrateKbps: 900}, {T: 2, Subscribers: 3, BitrateKbps: 910}}
	cost := WatchSummary{
		Server:  ServerSummary{CPUCores: 1.5, RSSMB: 200, ForwardedPPS: 3000, CPUUsPerForwardedPacket: 500},
		Harness: HarnessSummary{CPUCores: 0.5, CPUSeconds: 0.03, RSSMB: 80},
	}
	return info, results, samples, cost
}

func TestBuildReportAggregates(t *testing.T) {
	r := BuildReport(sampleRun())
	checks := []struct {
		name      string
		got, want float64
	}{
		{"publishers", float64(r.Publishers), 2},
		{"subscribers", float64(r.Subscribers), 3},
		{"not joined", float64(r.NotJoined), 0},
		{"tracks expected", float64(r.TracksExpected), 12},
		{"tracks received", float64(r.TracksReceived), 11},
		{"join p50", r.JoinMS.P50, 100},
		{"join p99", r.JoinMS.P99, 900},
		{"first media p50", r.FirstMediaMS.P50, 220},
		{"first media p99", r.FirstMediaMS.P99, 800},
		{"bitrate mean", r.BitrateKbps.Mean, 900},
		{"bitrate min", r.BitrateKbps.Min, 500},
		{"packets received (subscribers)", float64(r.PacketsReceived), 2800},
		{"packets lost", float64(r.PacketsLost), 100},
		{"loss %", r.PacketLossPct, 100.0 / 2900 * 100},
		{"freezes", float64(r.Freezes), 2},
		{"jitter p50", r.JitterMS.P50, 3},
		{"jitter p99", r.JitterMS.P99, 8},
		{"latency p50 (pooled)", r.LatencyMS.P50, 30},
		{"latency p99", r.LatencyMS.P99, 50},
		{"duration", r.DurationS, 30},
		{"server cores", r.Server.CPUCores, 1.5},
		// 0.03 s over the 3000 packets every participant received.
		{"harness µs/packet", r.Harness.UsPerReceivedPacket, 10},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.Started != "2026-03-01T12:00:00Z" {
		t.Errorf("started = %q", r.Started)
	}
	if len(r.Samples) != 2 {
		t.Errorf("%d samples, want 2", len(r.Samples))
	}
}

func TestBuildReportThresholds(t *testing.T) {
	info, results, samples, cost := sampleRun()
	tests := []struct {
		name   string
		th     Thresholds
		change func(info *RunInfo, results []ParticipantResult) []ParticipantResult
		want   []string // one substring per expected failure, in order
	}{
		{"only tracks are checked without thresholds", Thresholds{}, nil,
			[]string{"tracks: received 11 of 12"}},
		{"all tracks, no thresholds", Thresholds{}, allTracks, nil},
		{"loss within", Thresholds{MaxLossPct: 5}, allTracks, nil},
		{"loss over", Thresholds{MaxLossPct: 3}, allTracks, []string{"packet loss 3.45% > 3.00%"}},
		{"slowest join over", Thresholds{MaxJoinMS: 500}, allTracks, []string{"join: slowest 900 ms > 500 ms"}},
		{"join within", Thresholds{MaxJoinMS: 1000}, allTracks, nil},
		{"never joined counts against the join threshold", Thresholds{MaxJoinMS: 1000},
			func(info *RunInfo, rs []ParticipantResult) []ParticipantResult {
				rs = allTracks(info, rs)
				rs[2].JoinMS = 0
				return rs
			}, []string{"join: 1 participants never joined"}},
		{"a missing participant never joined", Thresholds{MaxJoinMS: 1000},
			func(info *RunInfo, rs []ParticipantResult) []ParticipantResult {
				info.Subscribers = 4
				return allTracks(info, rs)
			}, []string{"join: 1 participants never joined"}},
		{"never joined, join not checked", Thresholds{},
			func(info *RunInfo, rs []ParticipantResult) []ParticipantResult {
				rs = allTracks(info, rs)
				rs[2].JoinMS = -1
				return rs
			}, nil},
		{"latency over", Thresholds{MaxLatencyMS: 45}, allTracks, []string{"latency p99 50.0 ms > 45.0 ms"}},
		{"publishers a little behind", Thresholds{},
			func(info *RunInfo, rs []ParticipantResult) []ParticipantResult {
				rs = allTracks(info, rs)
				rs[0].FramesSent, rs[0].FramesSkipped = 995, 5
				return rs
			}, nil},
		{"a ramp step the harness could not drive", Thresholds{},
			func(info *RunInfo, rs []ParticipantResult) []ParticipantResult {
				info.Ramp = []RampStep{{Subscribers: 10, OK: true}, {Subscribers: 20, PublisherSkippedPct: 3}}
				return allTracks(info, rs)
			}, []string{"ramp: the harness fell behind at 20 subscribers (its publishers skipped 3.0% of their frames)"}},
		{"the harness fell behind, whatever the thresholds", Thresholds{},
			func(info *RunInfo, rs []ParticipantResult) []ParticipantResult {
				rs = allTracks(info, rs)
				rs[0].FramesSent, rs[0].FramesSkipped = 980, 20
				return rs
			}, []string{"the harness fell behind: its publishers skipped 2.0% of their frames"}},
		{"everything over", Thresholds{MaxLossPct: 1, MaxJoinMS: 100, MaxLatencyMS: 10}, nil,
			[]string{"tracks", "packet loss", "join: slowest", "latency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, rs := info, slices.Clone(results)
			info.Thresholds = tt.th
			if tt.change != nil {
				rs = tt.change(&info, rs)
			}
			r := BuildReport(info, rs, samples, cost)
			if r.Passed != (len(tt.want) == 0) {
				t.Errorf("passed = %v, failures %q", r.Passed, r.Failures)
			}
			if len(r.Failures) != len(tt.want) {
				t.Fatalf("failures %q, want %d like %q", r.Failures, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(r.Failures[i], w) {
					t.Errorf("failure %d = %q, want it to contain %q", i, r.Failures[i], w)
				}
			}
		})
	}
}

func allTracks(_ *RunInfo, rs []ParticipantResult) []ParticipantResult {
	for i := range rs {
		rs[i].TracksReceived = rs[i].TracksExpected
	}
	return rs
}

func TestBuildReportEmpty(t *testing.T) {
	r := BuildReport(RunInfo{}, nil, nil, WatchSummary{})
	if !r.Passed || r.Started != "" || r.PacketLossPct != 0 {
		t.Errorf("empty run: %+v", r)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"failures":[]`, `"samples":[]`, `"ramp":[]`, `"urls":[]`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON lacks %s: %s", key, data)
		}
	}
}

func TestReportRampSteps(t *testing.T) {
	th := Thresholds{MaxLossPct: 2, MaxLatencyMS: 100}
	window := []Second{
		{LossPct: 1, LatencyP99MS: 40, ServerCPU: 1, HarnessCPU: 0.5, ForwardedPPS: 1000},
		{LossPct: 2, LatencyP99MS: 80, ServerCPU: 2, HarnessCPU: 1.5, ForwardedPPS: 3000},
	}
	// 200 packets: the 99th percentile is the 198th.
	var lat []float64
	for i := range 200 {
		lat = append(lat, float64(i))
	}
	s := RampStepOf(10, window, lat, th)
	// 1.5 cores over 2,000 packets/s: 750 µs of server CPU per packet.
	want := RampStep{Subscribers: 10, LossPct: 1.5, LatencyP99MS: 197, WorstSecondP99MS: 80, CPUCores: 1.5, ForwardedPPS: 2000, ServerUsPerPacket: 750, HarnessCores: 1, OK: false}
	if s != want {
		t.Errorf("RampStepOf = %+v, want %+v", s, want)
	}
	if s := RampStepOf(20, []Second{{LossPct: 3}}, nil, th); s.OK {
		t.Errorf("3%% loss passed a 2%% threshold: %+v", s)
	}
	if s := RampStepOf(20, []Second{{LatencyP99MS: 150}}, lat[:101], th); !s.OK || s.WorstSecondP99MS != 150 {
		t.Errorf("packets' p99 of 99 ms with a worst second of 150 ms did not pass a 100 ms threshold: %+v", s)
	}
	if s := RampStepOf(20, nil, lat[:103], th); s.OK {
		t.Errorf("a packets' p99 of 101 ms passed a 100 ms threshold: %+v", s)
	}
	if s := RampStepOf(5, nil, nil, th); s != (RampStep{Subscribers: 5, OK: true}) {
		t.Errorf("empty window: %+v", s)
	}

	tests := []struct {
		name string
		ok   []bool
		want int
	}{
		{"no ramp", nil, 0},
		{"all good", []bool{true, true, true}, 30},
		{"first fails", []bool{false, true}, 0},
		{"recovers after a failure", []bool{true, false, true}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ramp []RampStep
			for i, ok := range tt.ok {
				ramp = append(ramp, RampStep{Subscribers: 10 * (i + 1), OK: ok})
			}
			r := BuildReport(RunInfo{Ramp: ramp}, nil, nil, WatchSummary{})
			if r.RampLastGood != tt.want {
				t.Errorf("ramp_last_good = %d, want %d", r.RampLastGood, tt.want)
			}
		})
	}
}

// TestReportJSON checks the field names a reader of the JSON relies on.
func TestReportJSON(t *testing.T) {
	info, results, samples, cost := sampleRun()
	info.Ramp = []RampStep{{Subscribers: 3, OK: true}}
	data, err := json.Marshal(BuildReport(info, results, samples, cost))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	required := []string{
		"publishers", "subscribers", "tracks_expected", "tracks_received",
		"join_ms.p50", "join_ms.p95", "join_ms.p99",
		"first_media_ms.p50", "first_media_ms.p99",
		"bitrate_kbps.mean", "bitrate_kbps.min",
		"packet_loss_pct", "freezes",
		"latency_ms.p50", "latency_ms.p99",
		"server.cpu_cores", "server.rss_mb", "server.forwarded_pps", "server.cpu_us_per_forwarded_packet",
		"rooms", "duration_s", "started", "urls",
		"jitter_ms.p50", "jitter_ms.p99", "packets_received", "packets_lost",
		"harness.cpu_cores", "harness.us_per_received_packet", "harness.rss_mb",
		"ramp", "ramp_last_good", "thresholds.max_loss_pct", "thresholds.max_join_ms",
		"passed", "failures", "samples",
		"reconnects.disconnects", "reconnects.attempts", "reconnects.succeeded", "reconnects.failures", "reconnects.not_back",
		"reconnects.rejoin_ms.p50", "reconnects.rejoin_ms.p99", "reconnects.rejoin_ms.max", "reconnects.gaps",
		"reconnects.media_gap_ms.p50", "reconnects.media_gap_ms.p99", "reconnects.media_gap_ms.max",
		"reconnects.video_gap_ms.p50", "reconnects.video_gap_ms.p99", "reconnects.video_gap_ms.max", "reconnects.unresumed",
	}
	for _, key := range required {
		if _, ok := lookup(doc, key); !ok {
			t.Errorf("JSON lacks %s", key)
		}
	}
	for _, absent := range []string{"first_media_ms.p95", "latency_ms.p95"} {
		if _, ok := lookup(doc, absent); ok {
			t.Errorf("JSON has %s", absent)
		}
	}

	step := doc["ramp"].([]any)[0].(map[string]any)
	for _, key := range []string{"subscribers", "loss_pct", "latency_p99_ms", "cpu_cores", "forwarded_pps", "ok"} {
		if _, ok := step[key]; !ok {
			t.Errorf("ramp step lacks %s", key)
		}
	}
	sample := doc["samples"].([]any)[0].(map[string]any)
	for _, key := range []string{"t", "subscribers", "bitrate_kbps", "loss_pct", "latency_p99_ms", "server_cpu", "harness_cpu", "forwarded_pps"} {
		if _, ok := sample[key]; !ok {
			t.Errorf("sample lacks %s", key)
		}
	}
}

// lookup follows a dotted path through nested JSON objects.
func lookup(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestReportWriteTable(t *testing.T) {
	info, results, samples, cost := sampleRun()
	info.Thresholds = Thresholds{MaxLossPct: 1}
	info.Ramp = []RampStep{{Subscribers: 2, OK: true}, {Subscribers: 3, LossPct: 3.4}}
	var b strings.Builder
	BuildReport(info, results, samples, cost).WriteTable(&b)
	out := b.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"1 rooms, 2 publishers, 3 subscribers, 30.0 s from 2026-03-01T12:00:00Z",
		"join", "ms", "11/12", "kbit/s", "3.448", "cores", "MiB", "µs CPU per forwarded packet",
		"last good step: 2 subscribers", "FAILED", "packet loss 3.45% > 1.00%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	// The percentile rows line up: each p99 ends in the same column.
	var ends []int
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && slices.Contains([]string{"join", "jitter", "latency"}, f[0]) {
			ends = append(ends, strings.Index(line, " ms"))
		}
	}
	if len(ends) != 3 || ends[0] != ends[1] || ends[1] != ends[2] {
		t.Errorf("unit columns at %v, want three equal", ends)
	}

	info.Thresholds = Thresholds{}
	results = allTracks(nil, slices.Clone(results))
	b.Reset()
	BuildReport(info, results, samples, cost).WriteTable(&b)
	if !strings.Contains(b.String(), "PASSED") {
		t.Errorf("passing run:\n%s", b.String())
	}
}

func TestReportProgressLine(t *testing.T) {
	s := Second{T: 12.34, Subscribers: 30, BitrateKbps: 1234.5, LossPct: 0.25, LatencyP99MS: 45.6, ServerCPU: 2.5, ForwardedPPS: 45000}
	line := ProgressLine(s, 30, 40)
	for _, want := range []string{"12.3s", "30/40", "1234.5 kbit/s", "0.25%", "45.6 ms", "2.50 cores", "45000"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "\n") {
		t.Errorf("%q is more than one line", line)
	}
}

// TestReportReconnects: the participants' disconnects, attempts, rejoin
// times and media gaps add up in the report and its table; participants
// not back and media that did not resume fail the run. A run without
// disconnects has no reconnect section.
func TestReportReconnects(t *testing.T) {
	info, results, samples, cost := sampleRun()
	var b strings.Builder
	BuildReport(info, results, samples, cost).WriteTable(&b)
	if strings.Contains(b.String(), "Reconnects") {
		t.Errorf("a run without disconnects has a reconnect section:\n%s", b.String())
	}

	results[0].Reconnect = ReconnectResult{Disconnects: []string{"1006 dropped"}, Attempts: 2, Succeeded: 1, Failures: []string{"refused"}, RejoinMS: []float64{700}}
	results[2].Reconnect = ReconnectResult{Disconnects: []string{"1006 dropped", "1001 going away"}, Attempts: 2, Succeeded: 2,
		RejoinMS: []float64{300, 500}, MediaGapMS: []float64{400, 900}, VideoGapMS: []float64{450, 1000}}
	results[3].Reconnect = ReconnectResult{Disconnects: []string{"4409 replaced"}, NotBack: true, Unresumed: 1}
	r := BuildReport(info, results, samples, cost)
	rc := r.Reconnects
	if rc.Participants != 3 || rc.Disconnects["1006 dropped"] != 2 || rc.Disconnects["1001 going away"] != 1 || rc.Disconnects["4409 replaced"] != 1 {
		t.Errorf("disconnects %v of %d participants", rc.Disconnects, rc.Participants)
	}
	if rc.Attempts != 4 || rc.Succeeded != 3 || rc.Failures["refused"] != 1 || rc.NotBack != 1 {
		t.Errorf("attempts %d, succeeded %d, failures %v, not back %d", rc.Attempts, rc.Succeeded, rc.Failures, rc.NotBack)
	}
	if rc.Gaps != 2 || rc.MediaGapMS.P50 != 400 || rc.MediaGapMS.Max != 900 || rc.VideoGapMS.Max != 1000 || rc.RejoinMS.P50 != 500 || rc.Unresumed != 1 {
		t.Errorf("gaps %d: media %+v, video %+v, rejoin %+v, unresumed %d", rc.Gaps, rc.MediaGapMS, rc.VideoGapMS, rc.RejoinMS, rc.Unresumed)
	}
	var notBack, unresumed bool
	for _, f := range r.Failures {
		notBack = notBack || strings.Contains(f, "1 participants lost their connection")
		unresumed = unresumed || strings.Contains(f, "media did not resume after 1 of 3 pauses")
	}
	if !notBack || !unresumed {
		t.Errorf("failures %q: want the participant not back and the pause not resumed", r.Failures)
	}
	b.Reset()
	r.WriteTable(&b)
	t.Logf("\n%s", b.String())
	for _, want := range []string{"Reconnects", "1006 dropped 2", "3 succeeded", "refused 1", "media gap", "900", "video gap", "1000"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

// TestReportJoinByURL: participants that came in through several URLs get
// join percentiles per URL, in the JSON and the table; through one URL,
// none.
func TestReportJoinByURL(t *testing.T) {
	info, results, samples, cost := sampleRun()
	if r := BuildReport(info, results, samples, cost); r.JoinMSByURL != nil {
		t.Errorf("one URL, yet join times by URL: %v", r.JoinMSByURL)
	}
	const host, other = "ws://127.0.0.1:7880/ws", "ws://127.0.0.2:7880/ws"
	info.URLs = []string{host, other}
	for i := range results {
		results[i].URL = info.URLs[i%2]
	}
	r := BuildReport(info, results, samples, cost)
	// Joins 50, 60, 100, 120, 900 went to host, other, host, other, host.
	if got := r.JoinMSByURL[host]; got.P50 != 100 || got.Max != 900 {
		t.Errorf("through %s: %+v, want p50 100 and max 900", host, got)
	}
	if got := r.JoinMSByURL[other]; got.P50 != 60 || got.Max != 120 {
		t.Errorf("through %s: %+v, want p50 60 and max 120", other, got)
	}
	var b strings.Builder
	r.WriteTable(&b)
	if !strings.Contains(b.String(), "via "+other) {
		t.Errorf("the table lacks the join times through %s:\n%s", other, b.String())
	}
}
