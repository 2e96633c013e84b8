package signaling_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

const (
	// A publisher and a subscriber in a room together for soakTogether
	// are judged when either leaves: by then the subscriber must have
	// received soakMinAudio audio and soakMinVideo video packets from the
	// publisher, or receive them within soakPatience more, unless the
	// server paused that video for the subscriber's bandwidth. Connecting
	// takes seconds under the race detector, so a pair fails only after
	// 20 s together without media: a negotiation or a forwarding that is
	// stuck, not slow. The soak asserts that media flows, not how much.
	//
	// On a machine shared with other work the process may get a fraction
	// of a core, and its publishers send, and its subscribers read, that
	// much less: the patience is also counted in the process's own CPU
	// time, soakPatienceCPU (what the soak uses in about 12 s when it has
	// the machine to itself). A pair that the process could not get that
	// much CPU for within soakGiveUp goes unjudged.
	soakTogether    = 5 * time.Second
	soakPatience    = 15 * time.Second
	soakPatienceCPU = 10 * time.Second
	soakGiveUp      = 90 * time.Second
	soakMinAudio    = 25 // half a second of 20 ms packets
	soakMinVideo    = 3  // 300 ms of soakMedia's frames
	// soakMaxLate is how many packets may arrive for a track after a
	// renegotiation removed it: two seconds of audio, for a busy
	// harness that reads its sockets late.
	soakMaxLate = 100
)

// checkReceived checks what m, about to leave, received: media from its
// own room only, and no track that kept flowing unannounced.
func (s *soak) checkReceived(m *soakMember) {
	c, ok := s.roster.client(m)
	if !ok {
		return
	}
	for _, tc := range c.Received() {
		s.packets.Add(int64(tc.Packets))
		if tc.ParticipantID == "" {
			// pion's client makes a track without a stream of packets
			// that arrive for an SSRC its remote description no longer
			// declares: the last packets of a track that a renegotiation
			// just removed (the SSRC is that of a track of the same
			// subscriber that ended a moment before). A removed track
			// that kept flowing would bring more than a moment's worth.
			s.unattributed.Add(1)
			if tc.Packets > soakMaxLate {
				s.failf("%s in %s received %d %s packets on SSRC %d, which no track of its remote description declares",
					m.id, m.room, tc.Packets, tc.Kind, tc.SSRC)
			}
			continue
		}
		if room, ok := s.roster.room(tc.ParticipantID); !ok {
			s.failf("%s in %s received media from %s, who never joined", m.id, m.room, tc.ParticipantID)
		} else if room != m.room {
			s.failf("%s in %s received media from %s, who was in %s", m.id, m.room, tc.ParticipantID, room)
		}
	}
}

// checkPairs judges, before m leaves, the media between m and everyone
// in its room with it for soakTogether, both ways.
func (s *soak) checkPairs(m *soakMember) {
	now := time.Now()
	deadline := patience{wall: now, cpu: cpuTime()}
	for _, o := range s.roster.others(m.room, m) {
		if now.Sub(later(m.since, o.since)) < soakTogether {
			continue
		}
		if o.publishes {
			s.judge(o, m, deadline)
		}
		if m.publishes {
			s.judge(m, o, deadline)
		}
	}
}

// judge waits until sub has received pub's media, or one of them left
// (then the pair goes unjudged), or the deadline passed.
func (s *soak) judge(pub, sub *soakMember, deadline patience) {
	c, ok := s.roster.client(sub)
	if !ok {
		s.unjudged.Add(1)
		return
	}
	for {
		// Looked at before the counts, so that counts taken after a long
		// wait for the CPU are judged by the patience before it.
		over, givenUp := deadline.over(), deadline.givenUp()
		audio, video := countsFrom(c, pub.id)
		switch {
		case audio >= soakMinAudio && video >= soakMinVideo:
			s.pairs.Add(1)
			s.videoPairs.Add(1)
			return
		case audio >= soakMinAudio && s.videoPaused(pub, sub):
			// On a busy machine the subscriber's estimate falls with the
			// harness's delays: not sending it video is right.
			s.pairs.Add(1)
			s.pausedPairs.Add(1)
			return
		case !s.roster.present(pub) || !s.roster.present(sub):
			s.unjudged.Add(1)
			return
		case givenUp:
			s.unjudged.Add(1)
			s.starved.Add(1)
			return
		case over:
			s.pairs.Add(1)
			s.failf("%s in %s received %d audio and %d video packets from %s in %v together (%s)",
				sub.id, sub.room, audio, video, pub.id, time.Since(later(pub.since, sub.since)).Round(time.Millisecond),
				s.describe(c, pub, sub))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// patience is when a judgment began, in wall-clock and CPU time.
type patience struct {
	wall time.Time
	cpu  time.Duration
}

// over says whether soakPatience has passed, and soakPatienceCPU.
func (p patience) over() bool {
	return time.Since(p.wall) >= soakPatience && cpuTime()-p.cpu >= soakPatienceCPU
}

// givenUp says whether soakGiveUp has passed without the process getting
// soakPatienceCPU.
func (p patience) givenUp() bool {
	return time.Since(p.wall) >= soakGiveUp && cpuTime()-p.cpu < soakPatienceCPU
}

// countsFrom returns the audio and video packets c received from
// participant id.
func countsFrom(c *loadtest.Client, id string) (audio, video int) {
	for _, tc := range c.Received() {
		switch {
		case tc.ParticipantID != id:
		case tc.Kind == "audio":
			audio += tc.Packets
		default:
			video += tc.Packets
		}
	}
	return audio, video
}

// subscription returns the server's state of sub's subscription to pub's
// video.
func (s *soak) subscription(state sfu.RoomState, pub, sub *soakMember) (sfu.SubscriptionState, bool) {
	for _, p := range state.Participants {
		if p.ID != sub.id {
			continue
		}
		for _, st := range p.Subscriptions {
			if st.Kind == "video" && st.From == pub.id {
				return st, true
			}
		}
	}
	return sfu.SubscriptionState{}, false
}

// videoPaused says whether the server has paused pub's video for sub.
func (s *soak) videoPaused(pub, sub *soakMember) bool {
	state, _ := s.ts.sfu.RoomState(sub.room)
	st, ok := s.subscription(state, pub, sub)
	return ok && st.Target < 0
}

// describe says what the server and sub's client c know of the media
// from pub to sub, for a failure's message.
func (s *soak) describe(c *loadtest.Client, pub, sub *soakMember) string {
	var b strings.Builder
	state, _ := s.ts.sfu.RoomState(sub.room)
	if st, ok := s.subscription(state, pub, sub); ok {
		fmt.Fprintf(&b, "server: video subscription at layer %d, target %d", st.Current, st.Target)
	} else {
		b.WriteString("server: no video subscription")
	}
	for _, p := range state.Participants {
		switch p.ID {
		case sub.id:
			fmt.Fprintf(&b, ", subscriber's estimate %d bit/s", p.EstimateBps)
		case pub.id:
			for _, t := range p.Published {
				for _, l := range t.Layers {
					fmt.Fprintf(&b, ", publisher's %s layer %d received %d packets", t.Kind, l.Index, l.Received)
				}
			}
		}
	}
	for _, tc := range c.Received() {
		if tc.ParticipantID == pub.id {
			fmt.Fprintf(&b, "; client: %s track, %d packets, ended %v", tc.Kind, tc.Packets, tc.Ended)
		}
	}
	return b.String()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
