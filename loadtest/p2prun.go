package loadtest

import "time"

// Two-party calls (RunConfig.P2P): every room holds two callers, each
// publishing and receiving the other, with Options.P2P, so that a server
// with peer to peer enabled connects them directly (signaling/PROTOCOL.md,
// "Peer to peer for two"). A caller's media is counted over both paths,
// the SFU's subscriber connection and its peer connections, and kept
// apart in the report (P2PSummary).

// callState is what a caller's earlier connections did about peer to
// peer; its current connection's part is read from the client.
type callState struct {
	past        TrackTotals // received over earlier connections' peer connections
	started     bool        // a peer_start came
	direct      bool        // mode p2p came
	firstDirect time.Time   // the peer's media first played over a peer connection
	toSFU, ends []string    // reasons of mode sfu after p2p, and of peer_end
}

// receives says whether p receives media the run counts: a subscriber's,
// or a caller's.
func (p *participant) receives() bool { return !p.publisher || p.caller }

// peerTotals sums what arrived over a client's peer connections, oldest
// first; the tracks open and flowing are the latest connection's.
func peerTotals(links []map[string]TrackCounts, now time.Time) TrackTotals {
	var t TrackTotals
	for i, l := range links {
		lt := totalsOf(l, now)
		if i == len(links)-1 {
			t.Tracks, t.Flowing, t.LastFirst = lt.Tracks, lt.Flowing, lt.LastFirst
		}
		t.fold(lt)
	}
	return t
}

// callerTotalsLocked is what caller p received over the run so far: all
// of it, and apart, from the SFU and over peer connections. A track
// counts once: the paths carry the same two tracks of its peer, so
// Tracks and Flowing are the better path's.
func (r *loadRun) callerTotalsLocked(p *participant, now time.Time) (all, sfu, peer TrackTotals) {
	sfu = r.totalsLocked(p, now)
	peer = p.call.past
	for _, c := range []*Client{p.leaving, p.client} {
		if c != nil {
			cur := peerTotals(c.ReceivedPeerAll(), now)
			if c == p.client {
				peer.Tracks, peer.Flowing, peer.LastFirst = cur.Tracks, cur.Flowing, cur.LastFirst
			}
			peer.fold(cur)
		}
	}
	all = sfu
	all.fold(peer)
	all.Tracks, all.Flowing, all.LastFirst = sfu.Tracks, sfu.Flowing, sfu.LastFirst
	if want := r.expected(p); sfu.Flowing < want && peer.Flowing >= want {
		all.Tracks, all.Flowing, all.LastFirst = max(sfu.Tracks, peer.Tracks), peer.Flowing, peer.LastFirst
	}
	return all, sfu, peer
}

// receivedLocked is what p received over the run so far.
func (r *loadRun) receivedLocked(p *participant, now time.Time) TrackTotals {
	if !p.caller {
		return r.totalsLocked(p, now)
	}
	all, _, _ := r.callerTotalsLocked(p, now)
	return all
}

// callOf is what c did about peer to peer, added to what p's earlier
// connections did.
func callOf(p *participant, c *Client) callState {
	s := p.call
	s.toSFU, s.ends = append([]string(nil), s.toSFU...), append([]string(nil), s.ends...)
	if c == nil {
		return s
	}
	st := c.PeerStatus()
	s.started = s.started || !st.Started.IsZero()
	if s.firstDirect.IsZero() && !st.FirstMedia.IsZero() {
		s.firstDirect = st.FirstMedia
	}
	direct := false
	for _, sw := range st.Switches {
		switch {
		case sw.To == "p2p":
			direct = true
			s.direct = true
		case direct:
			s.toSFU = append(s.toSFU, sw.Reason)
		}
	}
	s.ends = append(s.ends, st.Ends...)
	return s
}

// noteCallLocked keeps what p's client showed of its first direct media:
// a later peer connection's replaces it in the client's status.
func (r *loadRun) noteCallLocked(p *participant) {
	if p.caller && p.client != nil && p.call.firstDirect.IsZero() {
		if st := p.client.PeerStatus(); !st.FirstMedia.IsZero() {
			p.call.firstDirect = st.FirstMedia
		}
	}
}

// retireCallLocked folds what the closed connection c did about peer to
// peer into p's.
func (r *loadRun) retireCallLocked(p *participant, c *Client) {
	if !p.caller {
		return
	}
	s := callOf(p, c)
	s.past.fold(peerTotals(c.ReceivedPeerAll(), time.Now()))
	s.past.Tracks, s.past.Flowing = 0, 0
	p.call = s
}

// directCallsLocked counts the rooms whose two callers are both in mode
// p2p now.
func (r *loadRun) directCallsLocked() int {
	inP2P := map[int]int{}
	for _, p := range r.parts {
		if p.caller && p.client != nil && p.client.PeerStatus().Mode == "p2p" {
			inP2P[p.room]++
		}
	}
	n := 0
	for _, k := range inP2P {
		if k == 2 {
			n++
		}
	}
	return n
}

// peerResultLocked is caller p's PeerResult at the end of the run.
func (r *loadRun) peerResultLocked(p *participant, sfu, peer TrackTotals) PeerResult {
	s := callOf(p, p.client)
	res := PeerResult{
		Started: s.started, Direct: s.direct, ToSFU: s.toSFU, Ends: s.ends,
		PeerPackets: peer.Packets, PeerBytes: peer.Bytes, SFUPackets: sfu.Packets, SFUBytes: sfu.Bytes,
	}
	if !s.firstDirect.IsZero() {
		res.DirectMS = ms(s.firstDirect.Sub(p.started))
	}
	return res
}
