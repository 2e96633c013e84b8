package loadtest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// PeerResult is what a caller of a two-party call (RunConfig.P2P) did
// about peer to peer over the run, over all its connections.
type PeerResult struct {
	// Started: the server asked it to open a peer connection (peer_start).
	Started bool
	// Direct: its call reached mode p2p. DirectMS is the time from
	// dialling to its peer's first media played over a peer connection;
	// 0 if that never happened.
	Direct   bool
	DirectMS float64
	// ToSFU are the reasons of the mode sfu messages that moved its call
	// back to the SFU after mode p2p; Ends those of the peer_end messages
	// (the peer left, or the direct path was given up before it carried
	// the call).
	ToSFU, Ends []string
	// Packets and bytes received over its peer connections, and from the
	// SFU.
	PeerPackets, PeerBytes int
	SFUPackets, SFUBytes   int
}

// Why a call never went direct, when no peer_end said.
const (
	whyNotJoined    = "not joined"      // a caller never joined
	whyNoPeerStart  = "no peer_start"   // the server started no peer connection: p2p off?
	whyNotConnected = "not connected"   // started, but no mode p2p came, nor a peer_end
	whyNoP2PAtClose = "not both in p2p" // one caller saw mode p2p, the other did not
)

// P2PSummary is what the two-party calls of a run did about peer to peer:
// how many went direct, how soon, which did not or fell back to the SFU
// and why, and the media each path carried.
type P2PSummary struct {
	Calls int `json:"calls"`
	// Direct counts the calls whose two callers both reached mode p2p;
	// NeverDirect the others, by why (NeverDirectWhy): the reason of a
	// peer_end, "no peer_start", "not connected", "not both in p2p" or
	// "not joined".
	Direct         int            `json:"direct"`
	NeverDirect    int            `json:"never_direct"`
	NeverDirectWhy map[string]int `json:"never_direct_why"`
	// FellBack counts the direct calls that mode sfu moved back to the
	// SFU, by reason (FellBackWhy; a call counts once per reason).
	FellBack    int            `json:"fell_back"`
	FellBackWhy map[string]int `json:"fell_back_why"`
	// DirectMS is, over the callers of direct calls, the time from
	// dialling to the peer's first media played over the peer connection.
	DirectMS TailPercentiles `json:"direct_ms"`
	// What the callers received over their peer connections and from the
	// SFU, in all; PeerPacketsMin is the least any caller of a direct
	// call received directly.
	PeerPackets    int `json:"peer_packets"`
	PeerBytes      int `json:"peer_bytes"`
	SFUPackets     int `json:"sfu_packets"`
	SFUBytes       int `json:"sfu_bytes"`
	PeerPacketsMin int `json:"peer_packets_min"`
	// PeerPacketsPct is the share of the packets received that came over
	// peer connections.
	PeerPacketsPct float64 `json:"peer_packets_pct"`
	// AllDirectS is how many of the run's seconds every call was direct,
	// as in the two seconds before (the server's figures of a second are
	// those of its watcher's latest interval, which may end up to a
	// second earlier, so the first two may still hold what was forwarded
	// before); the server's mean CPU (cores) and forwarded packets/s over
	// them.
	AllDirectS            int     `json:"all_direct_s"`
	AllDirectServerCPU    float64 `json:"all_direct_server_cpu"`
	AllDirectForwardedPPS float64 `json:"all_direct_forwarded_pps"`
}

// summarizeCalls sums the callers' results of a run of calls two-party
// calls (rooms 0 to calls-1), with the run's seconds.
func summarizeCalls(calls int, results []ParticipantResult, samples []Second) *P2PSummary {
	s := &P2PSummary{Calls: calls, NeverDirectWhy: map[string]int{}, FellBackWhy: map[string]int{}}
	byRoom := map[int][]ParticipantResult{}
	var directMS []float64
	for _, p := range results {
		if !p.Caller {
			continue
		}
		byRoom[p.Room] = append(byRoom[p.Room], p)
		s.PeerPackets += p.Peer.PeerPackets
		s.PeerBytes += p.Peer.PeerBytes
		s.SFUPackets += p.Peer.SFUPackets
		s.SFUBytes += p.Peer.SFUBytes
	}
	first := true
	for room := range calls {
		cs := byRoom[room]
		if why, direct := whyNotDirect(cs); !direct {
			s.NeverDirect++
			s.NeverDirectWhy[why]++
			continue
		}
		s.Direct++
		fell := map[string]bool{}
		for _, p := range cs {
			if p.Peer.DirectMS > 0 {
				directMS = append(directMS, p.Peer.DirectMS)
			}
			if first || p.Peer.PeerPackets < s.PeerPacketsMin {
				s.PeerPacketsMin, first = p.Peer.PeerPackets, false
			}
			for _, why := range p.Peer.ToSFU {
				fell[why] = true
			}
		}
		if len(fell) > 0 {
			s.FellBack++
		}
		for why := range fell {
			s.FellBackWhy[why]++
		}
	}
	s.DirectMS = PercentilesOf(directMS).Tail()
	if all := s.PeerPackets + s.SFUPackets; all > 0 {
		s.PeerPacketsPct = 100 * float64(s.PeerPackets) / float64(all)
	}
	for i, x := range samples {
		if calls > 0 && i >= 2 && x.DirectCalls == calls && samples[i-1].DirectCalls == calls && samples[i-2].DirectCalls == calls {
			s.AllDirectS++
			s.AllDirectServerCPU += x.ServerCPU
			s.AllDirectForwardedPPS += x.ForwardedPPS
		}
	}
	if s.AllDirectS > 0 {
		s.AllDirectServerCPU /= float64(s.AllDirectS)
		s.AllDirectForwardedPPS /= float64(s.AllDirectS)
	}
	return s
}

// whyNotDirect says whether the call of callers cs went direct, and if
// not, why.
func whyNotDirect(cs []ParticipantResult) (why string, direct bool) {
	if len(cs) < 2 {
		return whyNotJoined, false
	}
	directs, started := 0, false
	var ends []string
	for _, p := range cs {
		if p.JoinMS <= 0 {
			return whyNotJoined, false
		}
		if p.Peer.Direct {
			directs++
		}
		started = started || p.Peer.Started
		ends = append(ends, p.Peer.Ends...)
	}
	switch {
	case directs == len(cs):
		return "", true
	case directs > 0:
		return whyNoP2PAtClose, false
	case len(ends) > 0:
		return ends[0], false
	case !started:
		return whyNoPeerStart, false
	}
	return whyNotConnected, false
}

// writeTable writes the calls' figures for a person to read; nothing
// without calls.
func (s *P2PSummary) writeTable(p func(format string, args ...any)) {
	if s == nil {
		return
	}
	const val = "%-14s %10s  %s\n"
	perCaller := func(n int) string {
		if s.Calls == 0 {
			return "0"
		}
		return num(float64(n)/float64(2*s.Calls), 0)
	}
	p("\nTwo-party calls, peer to peer\n")
	p(val, "direct", fmt.Sprintf("%d/%d", s.Direct, s.Calls), "calls that reached mode p2p (both callers)")
	p(val, "never direct", fmt.Sprint(s.NeverDirect), "calls"+whyList(s.NeverDirectWhy))
	p(val, "fell back", fmt.Sprint(s.FellBack), "direct calls moved back to the SFU"+whyList(s.FellBackWhy))
	p("%-14s %10s %10s  %s\n", "", "p50", "p99", "")
	p("%-14s %10s %10s  %s\n", "direct media", num(s.DirectMS.P50, 0), num(s.DirectMS.P99, 0), "ms from dialling to the peer's first media over the peer connection")
	p(val, "peer packets", fmt.Sprint(s.PeerPackets), fmt.Sprintf("received over peer connections (%.1f%%), %s per caller, %d the least of a direct call's caller; %.1f MB",
		s.PeerPacketsPct, perCaller(s.PeerPackets), s.PeerPacketsMin, float64(s.PeerBytes)/1e6))
	p(val, "SFU packets", fmt.Sprint(s.SFUPackets), fmt.Sprintf("received from the SFU, %s per caller; %.1f MB", perCaller(s.SFUPackets), float64(s.SFUBytes)/1e6))
	p(val, "all direct", fmt.Sprint(s.AllDirectS), fmt.Sprintf("s with every call direct: server %.3f cores, %.0f forwarded packets/s, mean", s.AllDirectServerCPU, s.AllDirectForwardedPPS))
}

// whyList is ": n why, ..." for the counts in m, largest first.
func whyList(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return ": " + strings.Join(parts, ", ")
}
