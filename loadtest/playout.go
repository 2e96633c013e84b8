package loadtest

import "time"

// Playout: how a decoder would show a received video track, for the
// freezes and frame sizes a run reports.

// FreezeGap is the longest pause between two displayed frames that is
// not counted as a freeze.
const FreezeGap = 500 * time.Millisecond

// player plays a track out as a decoder would: frames in order, each once
// all its packets are there. A hole given up on (SettleWindow) breaks its
// frame, and nothing is shown again until a keyframe.
type player struct {
	next    uint64    // the first packet not yet played
	size    int       // payload bytes of the frame being played
	broken  bool      // it lacks a packet
	key     bool      // it is a keyframe
	needKey bool      // a frame was broken since the last keyframe
	lastPLI time.Time // when a keyframe was last asked for
	shownAt time.Time
}

// PlayoutWait is how long playout waits for a missing packet before it
// gives the frame up, as a browser's jitter buffer does.
const PlayoutWait = 500 * time.Millisecond

// play plays out the packets that arrived in order, and skips holes older
// than SettleWindow, which a decoder would have given up on.
func (st *trackState) play(now time.Time) {
	c := &st.counts
	for ; st.next <= st.hi; st.next++ {
		s := st.at(st.next)
		if s == nil || !s.pending {
			if st.next > st.settled {
				// It may still be repaired; a decoder waits a while, then
				// gives up on it and asks for a keyframe.
				if s == nil || s.missingAt == 0 || st.clockMS(now)-s.missingAt < uint32(PlayoutWait/time.Millisecond) {
					return
				}
			}
			st.broken = true
			continue
		}
		s.pending = false
		st.size += int(s.size)
		st.key = st.key || s.key
		if !s.end {
			continue
		}
		if st.broken {
			st.needKey = true
		} else {
			c.LastFrameSize = st.size
			if !st.needKey || st.key {
				if !st.shownAt.IsZero() {
					gap := now.Sub(st.shownAt)
					c.LongestGap = max(c.LongestGap, gap)
					if gap > FreezeGap {
						c.Freezes++
					}
				}
				st.shownAt, st.needKey = now, false
				if st.key && c.FirstKeyframe.IsZero() {
					c.FirstKeyframe = now
				}
			}
		}
		st.size, st.broken, st.key = 0, false, false
	}
}
