package loadtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestRunShort is the short run `make test` does: 2 publishers and 6
// subscribers in 2 rooms for 6 s against a real SFU on loopback. Every
// expected track must arrive, nothing may be lost for good, latency is
// measured, and the JSON report carries the documented fields.
func TestRunShort(t *testing.T) {
	ts := startSampleTestServer(t)
	cfg := RunConfig{
		URLs: []string{ts.wsURL}, Rooms: 2, Publishers: 2, Subscribers: 6, Duration: 6 * time.Second,
		Simulcast: true, LoopbackOnly: true, RoomPrefix: "short",
		Thresholds: Thresholds{MaxLossPct: 1},
		Token:      ts.mint,
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TracksExpected != 12 || rep.TracksReceived != rep.TracksExpected {
		t.Errorf("tracks %d received of %d expected, want 12 of 12", rep.TracksReceived, rep.TracksExpected)
	}
	if rep.PacketsReceived == 0 || rep.PacketsLost != 0 || rep.PacketLossPct != 0 {
		t.Errorf("%d packets received, %d lost (%.2f%%), want some and none lost on loopback", rep.PacketsReceived, rep.PacketsLost, rep.PacketLossPct)
	}
	if rep.NotJoined != 0 || rep.JoinMS.P99 <= 0 || rep.FirstMediaMS.P50 <= 0 {
		t.Errorf("joins: %d not joined, join p99 %.0f ms, first media p50 %.0f ms", rep.NotJoined, rep.JoinMS.P99, rep.FirstMediaMS.P50)
	}
	if rep.LatencyMS.P50 <= 0 || rep.LatencyMS.P99 < rep.LatencyMS.P50 {
		t.Errorf("latency p50 %.2f p99 %.2f ms, want measured", rep.LatencyMS.P50, rep.LatencyMS.P99)
	}
	if rep.BitrateKbps.Min <= 0 || !rep.Passed {
		t.Errorf("min bitrate %.0f kbit/s, passed %v (%v)", rep.BitrateKbps.Min, rep.Passed, rep.Failures)
	}
	// Each room's 3 subscribers receive its publisher, every one of them
	// on its first connection.
	if c := rep.Continuity; c.Pairs != 6 || c.VideoGapMS.Max <= 0 || c.AudioGapMS.Max <= 0 {
		t.Errorf("continuity %+v: want 6 pairs, their pauses measured", c)
	}
	t.Logf("join p50 %.0f p99 %.0f ms; first media p50 %.0f ms; %.0f kbit/s mean; latency p50 %.2f p99 %.2f ms; %d packets; %.2f%% of frames skipped",
		rep.JoinMS.P50, rep.JoinMS.P99, rep.FirstMediaMS.P50, rep.BitrateKbps.Mean, rep.LatencyMS.P50, rep.LatencyMS.P99, rep.PacketsReceived, rep.PublisherSkippedPct)

	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"publishers", "subscribers", "tracks_expected", "tracks_received", "join_ms", "first_media_ms",
		"bitrate_kbps", "packet_loss_pct", "freezes", "latency_ms", "server"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if pubs, _ := m["publishers"].(float64); pubs != 2 {
		t.Errorf("publishers %v in the JSON, want 2", m["publishers"])
	}
}

// TestRunRamp ramps 2 subscribers a second up to 4 against one publisher:
// on loopback every step holds, the ramp reports them and ends the run
// once the last step was judged.
func TestRunRamp(t *testing.T) {
	ts := startSampleTestServer(t)
	cfg := RunConfig{
		URLs: []string{ts.wsURL}, Rooms: 1, Publishers: 1, Subscribers: 4, Duration: 20 * time.Second,
		Simulcast: true, LoopbackOnly: true, RoomPrefix: "ramp", RampStep: 2, RampEvery: 2 * time.Second,
		Token: ts.mint,
	}
	start := time.Now()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if len(rep.Ramp) != 2 || rep.Ramp[0].Subscribers != 2 || rep.Ramp[1].Subscribers != 4 {
		t.Fatalf("ramp steps %+v, want 2 then 4 subscribers", rep.Ramp)
	}
	if !rep.Ramp[0].OK || !rep.Ramp[1].OK || rep.RampLastGood != 4 {
		t.Errorf("ramp %+v, last good %d: want both steps within 1%% loss and 200 ms", rep.Ramp, rep.RampLastGood)
	}
	if took > 12*time.Second {
		t.Errorf("the run took %v: it should end once the last step was judged, not at its 20 s duration", took)
	}
	if rep.TracksReceived != 8 || rep.TracksExpected != 8 {
		t.Errorf("tracks %d of %d, want 8 of 8", rep.TracksReceived, rep.TracksExpected)
	}
}

// TestRunAudioOnly measures an audio-only run: the latency comes from the
// Opus packets, which the harness recognises like video frames.
func TestRunAudioOnly(t *testing.T) {
	ts := startSampleTestServer(t)
	rep, err := Run(context.Background(), RunConfig{
		URLs: []string{ts.wsURL}, Rooms: 1, Publishers: 2, Subscribers: 2, Duration: 4 * time.Second,
		AudioOnly: true, LoopbackOnly: true, RoomPrefix: "audio",
		Token: ts.mint,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TracksExpected != 4 || rep.TracksReceived != 4 {
		t.Errorf("tracks %d of %d, want 4 of 4 (2 subscribers x 2 audio publishers)", rep.TracksReceived, rep.TracksExpected)
	}
	if rep.LatencyMS.P50 <= 0 {
		t.Errorf("audio latency p50 %.2f ms, want measured", rep.LatencyMS.P50)
	}
	t.Logf("audio only: latency p50 %.2f p99 %.2f ms, %d packets, %.1f kbit/s per subscriber", rep.LatencyMS.P50, rep.LatencyMS.P99, rep.PacketsReceived, rep.BitrateKbps.Mean)
}

// TestRunTwoNodes spreads two rooms over two servers: each room lives on
// one node, so every subscriber gets its room's tracks.
func TestRunTwoNodes(t *testing.T) {
	a, b := startSampleTestServer(t), startSampleTestServer(t)
	rep, err := Run(context.Background(), RunConfig{
		URLs: []string{a.wsURL, b.wsURL}, Rooms: 2, Publishers: 2, Subscribers: 2, Duration: 4 * time.Second,
		LoopbackOnly: true, RoomPrefix: "nodes",
		Token: a.mint, // both test servers share one key
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TracksExpected != 4 || rep.TracksReceived != 4 || len(rep.URLs) != 2 {
		t.Errorf("tracks %d of %d over %v, want 4 of 4 over 2 nodes", rep.TracksReceived, rep.TracksExpected, rep.URLs)
	}
}

// TestLatenciesKeepCounting: the per-second series keeps getting samples
// after the run-long sample is full.
func TestLatenciesKeepCounting(t *testing.T) {
	var l latencies
	for i := range maxLatencySamples {
		l.add(float64(i))
	}
	if got := len(l.since(nil)); got != maxLatencySamples {
		t.Fatalf("since returned %d samples, want %d", got, maxLatencySamples)
	}
	l.add(1e6)
	if got := l.since(nil); len(got) != 1 || got[0] != 1e6 {
		t.Errorf("since after the sample filled returned %v, want [1e6]", got)
	}
	if all := l.all(); len(all) != maxLatencySamples || all[len(all)-1] != 1e6 {
		t.Errorf("all: %d samples, largest %v; want %d with the late 1e6 in", len(all), all[len(all)-1], maxLatencySamples)
	}
}
