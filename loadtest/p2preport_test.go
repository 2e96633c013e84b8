package loadtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// caller is a ParticipantResult of a caller of room that joined, with
// peer.
func caller(room int, peer PeerResult) ParticipantResult {
	return ParticipantResult{Publisher: true, Caller: true, Room: room, JoinMS: 100, TracksExpected: 2, TracksReceived: 2, Peer: peer}
}

// TestSummarizeCalls: calls count as direct only when both callers
// reached mode p2p; the others are counted with why, the fallen back by
// reason once per call, and the media of each path apart.
func TestSummarizeCalls(t *testing.T) {
	direct := func(ms float64, pkts int, toSFU ...string) PeerResult {
		return PeerResult{Started: true, Direct: true, DirectMS: ms, ToSFU: toSFU, PeerPackets: pkts, PeerBytes: 1000 * pkts, SFUPackets: 10, SFUBytes: 10000}
	}
	results := []ParticipantResult{
		// 0: direct throughout.
		caller(0, direct(300, 500)), caller(0, direct(320, 480)),
		// 1: direct, then a third joined: back to the SFU (both told).
		caller(1, direct(400, 200, "third_joined")), caller(1, direct(410, 210, "third_joined")),
		// 2: started, timed out before it carried the call.
		caller(2, PeerResult{Started: true, Ends: []string{"peer_timeout"}, SFUPackets: 900}),
		caller(2, PeerResult{Started: true, Ends: []string{"peer_timeout"}, SFUPackets: 900}),
		// 3: one caller never joined; the other's result is missing.
		{Publisher: true, Caller: true, Room: 3, TracksExpected: 2},
		// 4: the server started nothing.
		caller(4, PeerResult{SFUPackets: 800}), caller(4, PeerResult{SFUPackets: 800}),
		// 5: one side saw mode p2p, the other not.
		caller(5, direct(500, 50)), caller(5, PeerResult{Started: true, PeerPackets: 40}),
		// 6: started, neither connected nor ended (yet).
		caller(6, PeerResult{Started: true}), caller(6, PeerResult{Started: true}),
		// A publisher and a subscriber of no call do not count.
		{Publisher: true, JoinMS: 5}, {JoinMS: 5, PacketsReceived: 99},
	}
	samples := []Second{
		{T: 1, DirectCalls: 1, ServerCPU: 0.5, ForwardedPPS: 900},
		{T: 2, DirectCalls: 2, ServerCPU: 0.4, ForwardedPPS: 300}, // went direct during it
		{T: 3, DirectCalls: 2, ServerCPU: 0.2, ForwardedPPS: 90},  // the server's figures may lag a second
		{T: 4, DirectCalls: 2, ServerCPU: 0.3},
		{T: 5, DirectCalls: 2, ServerCPU: 0.1, ForwardedPPS: 2},
	}
	s := summarizeCalls(7, results, samples)

	if s.Calls != 7 || s.Direct != 2 || s.NeverDirect != 5 {
		t.Errorf("calls %d, direct %d, never direct %d: want 7, 2, 5", s.Calls, s.Direct, s.NeverDirect)
	}
	want := map[string]int{"peer_timeout": 1, whyNotJoined: 1, whyNoPeerStart: 1, whyNoP2PAtClose: 1, whyNotConnected: 1}
	for k, n := range want {
		if s.NeverDirectWhy[k] != n {
			t.Errorf("never direct because %q: %d, want %d (all: %v)", k, s.NeverDirectWhy[k], n, s.NeverDirectWhy)
		}
	}
	if s.FellBack != 1 || len(s.FellBackWhy) != 1 || s.FellBackWhy["third_joined"] != 1 {
		t.Errorf("fell back %d %v, want 1 call, third_joined once", s.FellBack, s.FellBackWhy)
	}
	// The direct calls' four callers only.
	if s.DirectMS.P50 != 320 || s.DirectMS.P99 != 410 {
		t.Errorf("direct media %+v ms, want p50 320, p99 410", s.DirectMS)
	}
	if s.PeerPackets != 1480 || s.PeerBytes != 1_440_000 || s.SFUPackets != 3450 || s.SFUBytes != 50_000 {
		t.Errorf("peer %d packets %d bytes, SFU %d packets %d bytes", s.PeerPackets, s.PeerBytes, s.SFUPackets, s.SFUBytes)
	}
	if s.PeerPacketsMin != 200 {
		t.Errorf("least received directly by a direct call's caller %d, want 200", s.PeerPacketsMin)
	}
	if got := s.PeerPacketsPct; got < 30.01 || got > 30.03 {
		t.Errorf("peer share %.3f%%, want 1480/4930", got)
	}
	if s.AllDirectS != 0 {
		t.Errorf("%d seconds all direct, want none: calls never direct", s.AllDirectS)
	}
	// Calls 0 and 1 alone, both direct throughout the last two seconds:
	all := summarizeCalls(2, results[:4], samples)
	if all.AllDirectS != 2 || all.AllDirectServerCPU != 0.2 || all.AllDirectForwardedPPS != 1 {
		t.Errorf("all direct %d s, %.3f cores, %.1f pkt/s: want 2 s, 0.2, 1", all.AllDirectS, all.AllDirectServerCPU, all.AllDirectForwardedPPS)
	}

	// In a report: the callers are publishers and subscribers both.
	rep := BuildReport(RunInfo{Rooms: 7, P2P: true, Publishers: 14, Duration: time.Second}, results[:13], samples, WatchSummary{})
	if rep.P2P == nil || rep.P2P.Direct != 2 || rep.Publishers != 14 || rep.Subscribers != 13 || rep.NotJoined != 2 {
		t.Fatalf("report: %d publishers, %d subscribers, %d not joined, calls %+v", rep.Publishers, rep.Subscribers, rep.NotJoined, rep.P2P)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, line := range []string{
		"direct                2/7  calls that reached mode p2p (both callers)",
		"never direct            5  calls: 1 no peer_start, 1 not both in p2p, 1 not connected, 1 not joined, 1 peer_timeout",
		"fell back               1  direct calls moved back to the SFU: 1 third_joined",
		"direct media          320        410",
		"peer packets         1480  received over peer connections (30.0%), 106 per caller, 200 the least",
	} {
		if !strings.Contains(table.String(), line) {
			t.Errorf("the table lacks %q:\n%s", line, table.String())
		}
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"p2p":{"calls":7,"direct":2,"never_direct":5`)) {
		t.Errorf("JSON report lacks the p2p section: %s", data)
	}
	// Without calls, none.
	if plain := BuildReport(RunInfo{Rooms: 1}, results[13:], nil, WatchSummary{}); plain.P2P != nil {
		t.Errorf("a run without calls has a P2P section: %+v", plain.P2P)
	}
}

// TestPeerTotals: what arrived over several peer connections adds up;
// the tracks open are the latest connection's.
func TestPeerTotals(t *testing.T) {
	now := time.Now()
	old := map[string]TrackCounts{
		"a": {Unique: 100, Bytes: 10_000, First: now.Add(-9 * time.Second), Last: now.Add(-5 * time.Second)},
		"v": {Unique: 300, Bytes: 300_000, Unrepaired: 2, First: now.Add(-8 * time.Second), Last: now.Add(-5 * time.Second)},
	}
	cur := map[string]TrackCounts{
		"a": {Unique: 50, Bytes: 5_000, First: now.Add(-3 * time.Second), Last: now},
	}
	tt := peerTotals([]map[string]TrackCounts{old, cur}, now)
	if tt.Packets != 450 || tt.Bytes != 315_000 || tt.Unrepaired != 2 || tt.Expected != 452 {
		t.Errorf("totals %+v: want 450 packets, 315000 bytes, 2 lost", tt)
	}
	if tt.Tracks != 1 || tt.Flowing != 1 || !tt.First.Equal(now.Add(-9*time.Second)) || !tt.LastFirst.Equal(now.Add(-3*time.Second)) {
		t.Errorf("totals %+v: want the latest connection's one track flowing, the first packet of the first", tt)
	}
	if none := peerTotals(nil, now); none != (TrackTotals{}) {
		t.Errorf("no peer connection: %+v", none)
	}
}
