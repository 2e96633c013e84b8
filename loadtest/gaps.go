package loadtest

// The media gap a subscriber sees when it or a publisher it receives
// loses its connection and rejoins.

import "time"

// gap is a pause in what a subscriber receives from one publisher, across
// a disconnect of either: from the publisher's last packet before it to
// its first packet, and for video its first keyframe shown, after it.
type gap struct {
	since time.Time // when the disconnect was seen
	last  time.Time // the last packet before; zero until known
	first time.Time // the first packet after; zero until it came
	key   time.Time // the first keyframe shown after; zero until then
	video bool      // the publisher sends video: its keyframe is awaited too
}

// openGapsLocked opens the gaps p's disconnect at since makes: a
// publisher's at every subscriber of its room, a subscriber's for every
// publisher of its room. A pair with a gap open already keeps it: the
// pause began then.
func (r *loadRun) openGapsLocked(p *participant, since time.Time) {
	for _, o := range r.parts {
		if o.room != p.room || o.publisher == p.publisher {
			continue
		}
		sub, pub := o, p
		if !p.publisher {
			sub, pub = p, o
		}
		if sub.gaps == nil {
			sub.gaps = map[*participant]*gap{}
		}
		if _, open := sub.gaps[pub]; !open {
			sub.gaps[pub] = &gap{since: since, video: !r.cfg.AudioOnly}
		}
	}
}

// checkGapsLocked learns from tracks, what one of sub's connections
// received, when its open gaps began and ended, and records those that
// are over. Tracks that started before a gap's disconnect tell its last
// packet, later ones its first. A gap whose publisher sub had not
// received before is dropped: there was no media to pause.
func (r *loadRun) checkGapsLocked(sub *participant, tracks map[string]TrackCounts) {
	for pub, g := range sub.gaps {
		for _, tc := range tracks {
			if tc.First.IsZero() || r.pubIDs[tc.ParticipantID] != pub {
				continue
			}
			if tc.First.Before(g.since) {
				g.last = latest(g.last, tc.Last)
				continue
			}
			g.first = earliest(g.first, tc.First)
			if tc.Kind == "video" {
				g.key = earliest(g.key, tc.FirstKeyframe)
			}
		}
		switch {
		case g.last.IsZero():
			delete(sub.gaps, pub)
		case !g.first.IsZero() && (!g.video || !g.key.IsZero()):
			sub.rc.MediaGapMS = append(sub.rc.MediaGapMS, ms(g.first.Sub(g.last)))
			if g.video {
				// A track's first packet is timed when pion hands it over,
				// later ones when the kernel received them: the keyframe
				// can seem to end a few ms before the first packet came.
				sub.rc.VideoGapMS = append(sub.rc.VideoGapMS, ms(latest(g.key, g.first).Sub(g.last)))
			}
			delete(sub.gaps, pub)
		}
	}
}

// unresumedLocked counts sub's gaps after which media had not come back:
// those whose last packet before is known.
func unresumedLocked(sub *participant) int {
	n := 0
	for _, g := range sub.gaps {
		if !g.last.IsZero() {
			n++
		}
	}
	return n
}

// earliest is the earlier of two times, a zero time being unknown.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// latest is the later of two times.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
