package loadtest

import "time"

// TrackTotals sums a participant's received tracks.
type TrackTotals struct {
	Tracks, Flowing          int
	Bytes, Packets, Expected int
	Unrepaired, Freezes      int
	Jitter                   time.Duration // the worst track's
	First                    time.Time     // first packet of any track
	LastFirst                time.Time     // first packet of the last track to start
}

// totalsOf sums tracks, those that ended included; only tracks still on
// count as Tracks and Flowing.
func totalsOf(tracks map[string]TrackCounts, now time.Time) TrackTotals {
	var t TrackTotals
	for _, tc := range tracks {
		if !tc.Ended {
			t.Tracks++
			if now.Sub(tc.Last) < time.Second {
				t.Flowing++
			}
			if tc.First.After(t.LastFirst) {
				t.LastFirst = tc.First
			}
		}
		t.Bytes += tc.Bytes
		t.Packets += tc.Unique
		t.Expected += tc.Unique + tc.Unrepaired
		t.Unrepaired += tc.Unrepaired
		t.Freezes += tc.Freezes
		t.Jitter = max(t.Jitter, tc.Jitter)
		t.First = earliest(t.First, tc.First)
	}
	return t
}

// fold adds what o received to t: o is an earlier connection's.
func (t *TrackTotals) fold(o TrackTotals) {
	t.Bytes += o.Bytes
	t.Packets += o.Packets
	t.Expected += o.Expected
	t.Unrepaired += o.Unrepaired
	t.Freezes += o.Freezes
	t.Jitter = max(t.Jitter, o.Jitter)
	t.First = earliest(t.First, o.First)
}

// totalsLocked is what p received over the run so far: its connection's
// tracks, and what its earlier ones received. It learns from the
// connection's tracks about p's open media gaps.
func (r *loadRun) totalsLocked(p *participant, now time.Time) TrackTotals {
	var t TrackTotals
	if p.client != nil {
		tracks := p.client.Received()
		t = totalsOf(tracks, now)
		if len(p.gaps) > 0 {
			r.checkGapsLocked(p, tracks)
		}
	}
	if p.leaving != nil {
		t.fold(totalsOf(p.leaving.Received(), now))
	}
	t.fold(p.past)
	return t
}

// publishedLocked is what p published over the run so far.
func publishedLocked(p *participant) (sent, skipped int64) {
	sent, skipped = p.pastSent, p.pastSkipped
	for _, c := range []*Client{p.client, p.leaving} {
		if c != nil {
			a, b := c.Published()
			sent, skipped = sent+a, skipped+b
		}
	}
	return sent, skipped
}
