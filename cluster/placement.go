package cluster

import (
	"math"
	"sort"
)

// utilisationStep is how close two nodes' utilisations must be to count
// as equal, so that a node does not win a room over a slightly busier one
// that already serves fewer participants by a measurement's noise.
const utilisationStep = 0.05

// Utilisation is how full a node is, from 0 (idle) to 1 (at a limit): the
// largest ratio of load to limit over the limits the node has. A node with
// no limit is measured by its CPU alone.
func Utilisation(n NodeInfo) float64 {
	u := 0.0
	ratio := func(load, limit float64) {
		if limit > 0 {
			u = math.Max(u, load/limit)
		}
	}
	ratio(float64(n.Load.Participants), float64(n.Limits.Participants))
	ratio(float64(n.Load.Tracks), float64(n.Limits.Tracks))
	if n.Limits.CPU > 0 {
		ratio(n.Load.CPU, n.Limits.CPU)
	} else {
		u = math.Max(u, n.Load.CPU)
	}
	return u
}

// HasRoom reports whether n takes one more participant: it is not
// draining and below every limit it has.
func HasRoom(n NodeInfo) bool {
	if n.Draining {
		return false
	}
	l, c := n.Limits, n.Load
	return (l.Participants == 0 || c.Participants < l.Participants) &&
		(l.Tracks == 0 || c.Tracks < l.Tracks) &&
		(l.CPU == 0 || c.CPU < l.CPU)
}

// Place chooses the node for a new room among nodes: the least utilised
// one that has room, then the one with fewest participants, then prefer
// (the front door, which saves a relay hop), then the smallest ID so that
// every node makes the same choice from the same view. It reports false
// when no node has room.
func Place(nodes []NodeInfo, prefer string) (string, bool) {
	var candidates []NodeInfo
	for _, n := range nodes {
		if HasRoom(n) {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		return "", false
	}
	bucket := func(n NodeInfo) int { return int(Utilisation(n) / utilisationStep) }
	sort.Slice(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if ba, bb := bucket(a), bucket(b); ba != bb {
			return ba < bb
		}
		if a.Load.Participants != b.Load.Participants {
			return a.Load.Participants < b.Load.Participants
		}
		if (a.ID == prefer) != (b.ID == prefer) {
			return a.ID == prefer
		}
		return a.ID < b.ID
	})
	return candidates[0].ID, true
}
