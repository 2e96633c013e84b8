package sfu

import (
	"maps"
	"time"
)

// Network quality levels, from what the server already measures: the
// loss on a participant's uplink (its published tracks), the loss its
// subscriber connection's estimator sees, and whether that connection's
// bandwidth estimate holds its video below what it wants. See
// signaling/PROTOCOL.md, "Network quality".
const (
	QualityBad  = 0 // 10% loss or more
	QualityPoor = 1 // 5-10% loss, or video paused for want of bandwidth
	QualityFair = 2 // 2-5% loss, or video held below the layer wanted
	QualityGood = 3 // under 2% loss, every video at the layer wanted
)

// qualityEvery is how often each participant's level is measured and the
// room tells its clients of changes.
const qualityEvery = 2 * time.Second

// qualityMinPackets is how many packets a direction must have carried in
// an interval for its loss to count: a few packets say nothing.
const qualityMinPackets = 50

// NetworkQuality tells a client the network quality level (0 to 3, see
// QualityGood) of its own connection and of the others' in the room. It
// is sent every qualityEvery to each client for which a level changed.
type NetworkQuality struct {
	Self         int
	Participants map[string]int // participant ID -> level; those this node measures
}

func (NetworkQuality) isEvent() {}

// lossLevel is the level a loss ratio allows.
func lossLevel(loss float64) int {
	switch {
	case loss < 0.02:
		return QualityGood
	case loss < 0.05:
		return QualityFair
	case loss < 0.10:
		return QualityPoor
	}
	return QualityBad
}

// qualityLevel combines a participant's measures into one level: the
// worse of its uplink and downlink loss, capped at QualityPoor while some
// of its video is paused for want of bandwidth (paused > 0) and at
// QualityFair while some is below the layer it wants (short > 0).
func qualityLevel(upLoss, downLoss float64, paused, short int) int {
	level := min(lossLevel(upLoss), lossLevel(downLoss))
	switch {
	case paused > 0:
		level = min(level, QualityPoor)
	case short > 0:
		level = min(level, QualityFair)
	}
	return level
}

// qualityMeter measures a participant's level; it is owned by the
// participant's event loop.
type qualityMeter struct {
	at       time.Time
	expected uint64 // packets expected on the uplink, summed over its layers, at the last measure
	lost     int64  // and lost
}

// measureQuality measures the participant's level every qualityEvery
// and stores it for the room (networkQuality). It runs on the event loop
// after an allocation, so bandwidth control's figures are fresh. It costs
// a few loads per published layer, nothing per packet.
func (p *Participant) measureQuality(now time.Time) {
	m := &p.qualityMeter
	if !m.at.IsZero() && now.Sub(m.at) < qualityEvery {
		return
	}
	m.at = now
	p.upMu.Lock()
	ups := make([]*UpTrack, 0, len(p.upTracks))
	for _, up := range p.upTracks {
		ups = append(ups, up)
	}
	p.upMu.Unlock()
	var expected uint64
	var lost int64
	for _, up := range ups {
		for i := range MaxLayers {
			if l := up.layer(i); l != nil {
				st := l.stats.Snapshot()
				expected += st.Expected
				lost += st.Lost
			}
		}
	}
	var upLoss float64
	// Counters go down when a track ends: that interval says nothing.
	if dExp, dLost := int64(expected)-int64(m.expected), lost-m.lost; dExp >= qualityMinPackets && dLost > 0 {
		upLoss = float64(dLost) / float64(dExp)
	}
	m.expected, m.lost = expected, lost
	var downLoss float64
	if _, known := p.bw.bwe.Estimate(now); known {
		_, downLoss = p.bw.bwe.Stats()
	}
	p.quality.Store(int32(qualityLevel(upLoss, downLoss, p.bw.lastPaused, p.bw.lastShort)))
}

// networkQuality is the participant's latest level (qualityReporter).
func (p *Participant) networkQuality() int { return int(p.quality.Load()) }

// qualityReporter is a room member whose network quality this node
// measures: a Participant. Others (relays) are left out of NetworkQuality.
type qualityReporter interface {
	networkQuality() int
}

// qualityLoop is the state the room's loop keeps for sendQuality: what
// it last told each client.
type qualityLoop struct {
	sent map[string]NetworkQuality
}

// sendQuality tells each client of the room the levels of everybody the
// node measures, when one changed since it last told that client.
func (r *Room) sendQuality(q *qualityLoop) {
	levels := map[string]int{}
	var to []roomMember
	r.mu.Lock()
	for id, m := range r.members {
		rep, ok := m.p.(qualityReporter)
		if !ok || m.role != roleClient {
			continue
		}
		levels[id] = rep.networkQuality()
		to = append(to, m.p)
	}
	r.mu.Unlock()
	sent := make(map[string]NetworkQuality, len(to))
	for _, p := range to {
		id := p.ID()
		ev := NetworkQuality{Self: levels[id], Participants: make(map[string]int, len(levels)-1)}
		for other, l := range levels {
			if other != id {
				ev.Participants[other] = l
			}
		}
		sent[id] = ev
		if last, ok := q.sent[id]; ok && last.Self == ev.Self && maps.Equal(last.Participants, ev.Participants) {
			continue
		}
		p.send(ev)
	}
	q.sent = sent
}
