package loadtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// ParticipantResult is what one synthetic participant measured over a run.
type ParticipantResult struct {
	Publisher bool
	// Caller: of a two-party call (RunConfig.P2P), in Room; it publishes,
	// receives, and Peer is what it did about peer to peer.
	Caller bool
	Room   int
	Peer   PeerResult
	// JoinMS is the time from dialling to being in the room, FirstMediaMS
	// the time from joining to the first media packet; 0 or negative means
	// it never happened.
	JoinMS, FirstMediaMS float64
	// URL is where it first connected.
	URL string

	TracksExpected, TracksReceived int
	BitrateKbps                    float64 // mean received bitrate over the run
	PacketsReceived, PacketsLost   int
	Freezes                        int
	JitterMS                       float64
	LatencyMS                      []float64 // one-way latency samples
	// FramesSent and FramesSkipped are a publisher's frames of the clip
	// sent, and skipped because the harness was too busy to send them on
	// time.
	FramesSent, FramesSkipped int64
	// Reconnect is what it went through when its connection ended.
	Reconnect ReconnectResult
	// Move is what it went through when its node asked it to move.
	Move MoveResult
	// Continuity is, for a subscriber that kept its connection, how
	// steadily it received each publisher that kept its own.
	Continuity []PairContinuity
}

// Second is one second of a run, as seen by the harness and the server.
type Second struct {
	T            float64 `json:"t"` // seconds since the run started
	Subscribers  int     `json:"subscribers"`
	BitrateKbps  float64 `json:"bitrate_kbps"` // mean received bitrate per subscriber
	LossPct      float64 `json:"loss_pct"`
	LatencyP99MS float64 `json:"latency_p99_ms"`
	ServerCPU    float64 `json:"server_cpu"`  // cores
	HarnessCPU   float64 `json:"harness_cpu"` // cores
	ForwardedPPS float64 `json:"forwarded_pps"`
	DirectCalls  int     `json:"direct_calls,omitempty"` // two-party calls in mode p2p
}

// Thresholds decide whether a run passed. A zero threshold is not checked;
// tracks are always checked: every expected track must arrive.
type Thresholds struct {
	MaxLossPct   float64 `json:"max_loss_pct"`
	MaxJoinMS    float64 `json:"max_join_ms"`    // applies to the slowest join; never joining exceeds it
	MaxLatencyMS float64 `json:"max_latency_ms"` // applies to the 99th percentile
}

// RampStep is one level of a ramp: a number of subscribers held for a
// while, and how the system coped.
type RampStep struct {
	Subscribers int     `json:"subscribers"`
	LossPct     float64 `json:"loss_pct"`
	// LatencyP99MS is the 99th percentile of the latency of every packet
	// received during the step; WorstSecondP99MS is the highest of its
	// seconds' 99th percentiles, which catches a short spike, such as
	// the joins that start the step.
	LatencyP99MS     float64 `json:"latency_p99_ms"`
	WorstSecondP99MS float64 `json:"worst_second_p99_ms"`
	CPUCores         float64 `json:"cpu_cores"` // server
	ForwardedPPS     float64 `json:"forwarded_pps"`
	// ServerUsPerPacket is the server's CPU per forwarded packet.
	ServerUsPerPacket float64 `json:"server_us_per_packet"`
	HarnessCores      float64 `json:"harness_cores"`
	// PublisherSkippedPct is the share of the publishers' frames skipped
	// during the step because the harness fell behind; over 1% the step
	// fails, and the capacity found is the harness's.
	PublisherSkippedPct float64 `json:"publisher_skipped_pct"`
	OK                  bool    `json:"ok"`
}

// RampStepOf summarises the samples taken while subscribers were held
// steady: mean loss, server CPU and forwarded rate, the latency p99 of its
// packets (latencies, in ms) and the worst second's. The step is OK if
// the loss and the packets' p99 stay within th's thresholds; a runner that
// saw joins fail during the step should clear OK.
func RampStepOf(subscribers int, samples []Second, latencies []float64, th Thresholds) RampStep {
	s := RampStep{Subscribers: subscribers, LatencyP99MS: PercentilesOf(latencies).P99}
	for _, x := range samples {
		s.LossPct += x.LossPct
		s.CPUCores += x.ServerCPU
		s.HarnessCores += x.HarnessCPU
		s.ForwardedPPS += x.ForwardedPPS
		s.WorstSecondP99MS = max(s.WorstSecondP99MS, x.LatencyP99MS)
	}
	if n := float64(len(samples)); n > 0 {
		s.LossPct /= n
		s.CPUCores /= n
		s.HarnessCores /= n
		s.ForwardedPPS /= n
	}
	if s.ForwardedPPS > 0 {
		s.ServerUsPerPacket = s.CPUCores * 1e6 / s.ForwardedPPS
	}
	s.OK = (th.MaxLossPct <= 0 || s.LossPct <= th.MaxLossPct) &&
		(th.MaxLatencyMS <= 0 || s.LatencyP99MS <= th.MaxLatencyMS)
	return s
}

// RunInfo describes a run: what it was asked to do, and its ramp if it
// had one.
type RunInfo struct {
	Started  time.Time
	Duration time.Duration
	URLs     []string
	Rooms    int
	// Publishers and Subscribers are the counts the run asked for. A
	// participant with no result counts as one that never joined.
	Publishers, Subscribers int
	Thresholds              Thresholds
	Ramp                    []RampStep
	P2P                     bool            // Rooms two-party calls
	Chat, Data              *MessageSummary // nil: the run had none
}

// Bitrate summarises the bitrate subscribers received.
type Bitrate struct {
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
}

// RunReport is the outcome of a run, written as JSON and as a table. Media
// figures (first media, bitrate, loss, freezes, jitter, latency) are over
// subscribers only; track counts are over every participant.
type RunReport struct {
	Started   string   `json:"started"` // RFC 3339
	DurationS float64  `json:"duration_s"`
	URLs      []string `json:"urls"`
	Rooms     int      `json:"rooms"`

	Publishers  int `json:"publishers"`
	Subscribers int `json:"subscribers"`
	NotJoined   int `json:"not_joined"`

	TracksExpected int         `json:"tracks_expected"`
	TracksReceived int         `json:"tracks_received"`
	JoinMS         Percentiles `json:"join_ms"`
	// JoinMSByURL is JoinMS for the participants that first connected
	// to each URL, when they used several.
	JoinMSByURL     map[string]Percentiles `json:"join_ms_by_url,omitempty"`
	FirstMediaMS    TailPercentiles        `json:"first_media_ms"`
	BitrateKbps     Bitrate                `json:"bitrate_kbps"`
	PacketsReceived int                    `json:"packets_received"`
	PacketsLost     int                    `json:"packets_lost"`
	PacketLossPct   float64                `json:"packet_loss_pct"`
	Freezes         int                    `json:"freezes"`
	// PublisherSkippedPct is the share of the publishers' frames that fell
	// due but were skipped because the harness was too busy to send them
	// on time: above 1% the run fails, since what it measured includes
	// the harness's own overload.
	PublisherSkippedPct float64         `json:"publisher_skipped_pct"`
	JitterMS            TailPercentiles `json:"jitter_ms"`
	LatencyMS           TailPercentiles `json:"latency_ms"`

	Server  ServerSummary  `json:"server"`
	Harness HarnessSummary `json:"harness"`

	// Reconnects are the connections that ended before the run did, the
	// rejoins and the media gaps they caused.
	Reconnects ReconnectSummary `json:"reconnects"`
	// Moves are the moves of participants whose node was drained, and
	// the media gaps they caused.
	Moves MoveSummary `json:"moves"`
	// Continuity is the longest pause each subscriber that kept its
	// connection saw in the media of each publisher that kept its own.
	Continuity ContinuitySummary `json:"continuity"`
	// P2P is what the two-party calls did about peer to peer.
	P2P *P2PSummary `json:"p2p,omitempty"`
	// Chat and Data are what the participants' chat and application
	// data did (RunConfig.ChatEvery, DataEvery).
	Chat *MessageSummary `json:"chat,omitempty"`
	Data *MessageSummary `json:"data,omitempty"`

	Ramp []RampStep `json:"ramp"`
	// RampLastGood is the subscriber count of the last OK step before the
	// first failing one: the capacity the ramp found. 0 without a ramp.
	RampLastGood int `json:"ramp_last_good"`

	Thresholds Thresholds `json:"thresholds"`
	Passed     bool       `json:"passed"`
	Failures   []string   `json:"failures"`

	Samples []Second `json:"samples"`
}

// BuildReport aggregates a run's results, judges them against
// info.Thresholds, and attaches the per-second samples and the cost the
// ServerWatcher measured.
func BuildReport(info RunInfo, results []ParticipantResult, samples []Second, cost WatchSummary) *RunReport {
	r := &RunReport{
		DurationS:  info.Duration.Seconds(),
		URLs:       nonNil(info.URLs),
		Rooms:      info.Rooms,
		Server:     cost.Server,
		Harness:    cost.Harness,
		Ramp:       nonNil(info.Ramp),
		Thresholds: info.Thresholds,
		Samples:    nonNil(samples),
		Chat:       info.Chat,
		Data:       info.Data,
	}
	if !info.Started.IsZero() {
		r.Started = info.Started.Format(time.RFC3339)
	}

	var joins, firstMedia, jitter, latency, bitrates []float64
	byURL := map[string][]float64{}
	harnessPackets := 0
	var framesSent, framesSkipped int64
	for _, p := range results {
		framesSent += p.FramesSent
		framesSkipped += p.FramesSkipped
		r.TracksExpected += p.TracksExpected
		r.TracksReceived += p.TracksReceived
		harnessPackets += p.PacketsReceived
		if p.JoinMS > 0 {
			joins = append(joins, p.JoinMS)
			byURL[p.URL] = append(byURL[p.URL], p.JoinMS)
		} else {
			r.NotJoined++
		}
		if p.Publisher {
			r.Publishers++
			if !p.Caller {
				continue
			}
		}
		r.Subscribers++
		if p.FirstMediaMS > 0 {
			firstMedia = append(firstMedia, p.FirstMediaMS)
		}
		bitrates = append(bitrates, p.BitrateKbps)
		r.PacketsReceived += p.PacketsReceived
		r.PacketsLost += p.PacketsLost
		r.Freezes += p.Freezes
		if p.PacketsReceived > 0 {
			jitter = append(jitter, p.JitterMS)
		}
		latency = append(latency, p.LatencyMS...)
	}
	// Participants the runner asked for but has no result from never joined.
	r.NotJoined += max(info.Publishers-r.Publishers, 0) + max(info.Subscribers-r.Subscribers, 0)
	r.Publishers = max(r.Publishers, info.Publishers)
	r.Subscribers = max(r.Subscribers, info.Subscribers)

	r.JoinMS = PercentilesOf(joins)
	if len(byURL) > 1 {
		r.JoinMSByURL = make(map[string]Percentiles, len(byURL))
		for u, js := range byURL {
			r.JoinMSByURL[u] = PercentilesOf(js)
		}
	}
	r.FirstMediaMS = PercentilesOf(firstMedia).Tail()
	r.JitterMS = PercentilesOf(jitter).Tail()
	r.LatencyMS = PercentilesOf(latency).Tail()
	if len(bitrates) > 0 {
		r.BitrateKbps = Bitrate{Mean: mean(bitrates), Min: slices.Min(bitrates)}
	}
	if total := r.PacketsReceived + r.PacketsLost; total > 0 {
		r.PacketLossPct = float64(r.PacketsLost) / float64(total) * 100
	}
	r.PublisherSkippedPct = skippedPct(framesSent, framesSkipped)
	if harnessPackets > 0 {
		r.Harness.UsPerReceivedPacket = r.Harness.CPUSeconds * 1e6 / float64(harnessPackets)
	}
	r.RampLastGood = lastGoodStep(r.Ramp)
	r.Reconnects = summarizeReconnects(results)
	r.Moves = summarizeMoves(results)
	r.Continuity = summarizeContinuity(results, info.Started)
	if info.P2P {
		r.P2P = summarizeCalls(info.Rooms, results, r.Samples)
	}
	r.Failures = r.judge()
	r.Passed = len(r.Failures) == 0
	return r
}

// skippedPct is the share of the frames due that were skipped, in %.
func skippedPct(sent, skipped int64) float64 {
	if sent+skipped <= 0 {
		return 0
	}
	return float64(skipped) / float64(sent+skipped) * 100
}

// maxPublisherSkippedPct is the share of skipped publisher frames above
// which a run fails whatever its thresholds.
const maxPublisherSkippedPct = 1.0

// judge lists the ways r misses its thresholds.
func (r *RunReport) judge() []string {
	th := r.Thresholds
	failures := []string{}
	if r.TracksReceived < r.TracksExpected {
		failures = append(failures, fmt.Sprintf("tracks: received %d of %d expected", r.TracksReceived, r.TracksExpected))
	}
	if th.MaxLossPct > 0 && r.PacketLossPct > th.MaxLossPct {
		failures = append(failures, fmt.Sprintf("packet loss %.2f%% > %.2f%%", r.PacketLossPct, th.MaxLossPct))
	}
	if th.MaxJoinMS > 0 {
		if r.NotJoined > 0 {
			failures = append(failures, fmt.Sprintf("join: %d participants never joined", r.NotJoined))
		}
		if r.JoinMS.Max > th.MaxJoinMS {
			failures = append(failures, fmt.Sprintf("join: slowest %.0f ms > %.0f ms (p99 %.0f ms)", r.JoinMS.Max, th.MaxJoinMS, r.JoinMS.P99))
		}
	}
	if th.MaxLatencyMS > 0 && r.LatencyMS.P99 > th.MaxLatencyMS {
		failures = append(failures, fmt.Sprintf("latency p99 %.1f ms > %.1f ms", r.LatencyMS.P99, th.MaxLatencyMS))
	}
	for _, s := range r.Ramp {
		if s.PublisherSkippedPct > maxPublisherSkippedPct {
			failures = append(failures, fmt.Sprintf("ramp: the harness fell behind at %d subscribers (its publishers skipped %.1f%% of their frames): the capacity found is the harness's, not the server's",
				s.Subscribers, s.PublisherSkippedPct))
		}
	}
	if r.PublisherSkippedPct > maxPublisherSkippedPct {
		failures = append(failures, fmt.Sprintf("the harness fell behind: its publishers skipped %.1f%% of their frames, so what it measured includes its own overload",
			r.PublisherSkippedPct))
	}
	failures = append(failures, r.Reconnects.judge()...)
	failures = append(failures, r.Chat.judge()...)
	failures = append(failures, r.Data.judge()...)
	return append(failures, r.Moves.judge()...)
}

// lastGoodStep is the subscriber count of the last OK step before the
// first failing one.
func lastGoodStep(ramp []RampStep) int {
	good := 0
	for _, s := range ramp {
		if !s.OK {
			break
		}
		good = s.Subscribers
	}
	return good
}

func mean(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sum := 0.0
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}

// nonNil turns a nil slice into an empty one, so that JSON shows [] rather
// than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// WriteTable writes r for a person to read: the percentiles, the totals
// with their units, the ramp if there was one, and the verdict.
func (r *RunReport) WriteTable(w io.Writer) {
	// Columns are padded to line up; a line's padding stops at its last word.
	p := func(format string, args ...any) {
		var b strings.Builder
		for line := range strings.Lines(fmt.Sprintf(format, args...)) {
			b.WriteString(strings.TrimRight(line, " \n"))
			if strings.HasSuffix(line, "\n") {
				b.WriteByte('\n')
			}
		}
		_, _ = io.WriteString(w, b.String())
	}
	p("Load test: %d rooms, %d publishers, %d subscribers, %.1f s", r.Rooms, r.Publishers, r.Subscribers, r.DurationS)
	if r.Started != "" {
		p(" from %s", r.Started)
	}
	p("\n")
	if len(r.URLs) > 0 {
		p("Servers:   %s\n", strings.Join(r.URLs, " "))
	}

	const pct = "%-14s %10s %10s %10s %10s  %s\n"
	p("\n"+pct, "", "p50", "p95", "p99", "max", "")
	p(pct, "join", num(r.JoinMS.P50, 1), num(r.JoinMS.P95, 1), num(r.JoinMS.P99, 1), num(r.JoinMS.Max, 1), "ms")
	for _, u := range slices.Sorted(maps.Keys(r.JoinMSByURL)) {
		j := r.JoinMSByURL[u]
		p(pct, "  via "+u, num(j.P50, 1), num(j.P95, 1), num(j.P99, 1), num(j.Max, 1), "ms")
	}
	p(pct, "first media", num(r.FirstMediaMS.P50, 1), "", num(r.FirstMediaMS.P99, 1), "", "ms")
	p(pct, "jitter", num(r.JitterMS.P50, 2), "", num(r.JitterMS.P99, 2), "", "ms")
	p(pct, "latency", num(r.LatencyMS.P50, 2), "", num(r.LatencyMS.P99, 2), "", "ms")

	const val = "%-14s %10s  %s\n"
	p("\n")
	p(val, "not joined", fmt.Sprint(r.NotJoined), "participants")
	p(val, "tracks", fmt.Sprintf("%d/%d", r.TracksReceived, r.TracksExpected), "received/expected")
	p(val, "bitrate mean", num(r.BitrateKbps.Mean, 1), "kbit/s per subscriber")
	p(val, "bitrate min", num(r.BitrateKbps.Min, 1), "kbit/s, the poorest subscriber")
	p(val, "packet loss", num(r.PacketLossPct, 3), fmt.Sprintf("%% (%d lost, %d received)", r.PacketsLost, r.PacketsReceived))
	p(val, "freezes", fmt.Sprint(r.Freezes), "")
	p(val, "frames skipped", num(r.PublisherSkippedPct, 2), "% of the publishers' frames, the harness too busy")
	p(val, "server CPU", num(r.Server.CPUCores, 2), "cores, mean")
	p(val, "server RSS", num(r.Server.RSSMB, 1), "MiB, peak")
	p(val, "forwarded", num(r.Server.ForwardedPPS, 0), "packets/s, mean")
	p(val, "server cost", num(r.Server.CPUUsPerForwardedPacket, 2), "µs CPU per forwarded packet")
	p(val, "harness CPU", num(r.Harness.CPUCores, 2), "cores, mean")
	p(val, "harness RSS", num(r.Harness.RSSMB, 1), "MiB, peak")
	p(val, "harness cost", num(r.Harness.UsPerReceivedPacket, 2), "µs CPU per received packet")
	if r.Server.Source != "" {
		p(val, "measured", "", r.Server.Source)
	}
	r.Reconnects.writeTable(p)
	r.Moves.writeTable(p)
	r.Continuity.writeTable(p)
	r.P2P.writeTable(p)
	r.Chat.writeTable(p)
	r.Data.writeTable(p)

	if len(r.Ramp) > 0 {
		const step = "%11s  %8s  %14s  %14s  %12s  %15s  %13s  %13s  %9s  %s\n"
		p("\nRamp\n"+step, "subscribers", "loss %", "latency p99 ms", "worst second", "server cores", "forwarded pkt/s", "server µs/pkt", "harness cores", "skipped %", "ok")
		for _, s := range r.Ramp {
			p(step, fmt.Sprint(s.Subscribers), num(s.LossPct, 3), num(s.LatencyP99MS, 1), num(s.WorstSecondP99MS, 1), num(s.CPUCores, 2), num(s.ForwardedPPS, 0),
				num(s.ServerUsPerPacket, 1), num(s.HarnessCores, 2), num(s.PublisherSkippedPct, 2), yesNo(s.OK))
		}
		p("last good step: %d subscribers\n", r.RampLastGood)
	}

	p("\n")
	if r.Passed {
		p("PASSED\n")
		return
	}
	p("FAILED\n")
	for _, f := range r.Failures {
		p("  %s\n", f)
	}
}

// ProgressLine is a one-line account of the run so far, for a terminal.
func ProgressLine(s Second, joined, total int) string {
	return fmt.Sprintf("%6.1fs  subscribers %d/%d  %7.1f kbit/s  loss %5.2f%%  latency p99 %6.1f ms  server %5.2f cores  %7.0f fwd pkt/s",
		s.T, joined, total, s.BitrateKbps, s.LossPct, s.LatencyP99MS, s.ServerCPU, s.ForwardedPPS)
}

func num(v float64, decimals int) string { return fmt.Sprintf("%.*f", decimals, v) }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}
