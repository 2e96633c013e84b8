package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// dynacastHold is how long a simulcast layer must go unwanted before its
// publisher is told to stop encoding it, so that subscribers moving
// between layers do not make the publisher stop and restart encodings.
const dynacastHold = 3 * time.Second

// PublisherLayers tells a publisher which simulcast layers of one of its
// tracks someone receives, by RID: the others should not be encoded or
// sent, saving the publisher's uplink and CPU ("dynacast").
type PublisherLayers struct {
	TrackID string
	Active  map[string]bool
}

func (PublisherLayers) isEvent() {}

// dynacastState is, per UpTrack, what the publisher was last told. It is
// owned by the publisher's event loop.
type dynacastState struct {
	wantedAt [MaxLayers]time.Time
	active   [MaxLayers]bool
	told     bool
}

// wantedLayer is the highest layer any subscriber receives or is
// switching to, or -1 when nobody receives the track.
func (u *UpTrack) wantedLayer() int {
	top := -1
	for _, d := range *u.down.Load() {
		top = max(top, int(d.current.Load()), int(d.target.Load()))
	}
	return top
}

// dynacast decides which layers of up its publisher should send and
// returns the event to send, if that changed. The lowest layer always
// stays on: it is cheap, and a new subscriber can start on it at once.
func (s *dynacastState) update(up *UpTrack, now time.Time) (PublisherLayers, bool) {
	wanted := up.wantedLayer()
	var active [MaxLayers]bool
	layers := 0
	for i := 0; i < MaxLayers; i++ {
		l := up.layer(i)
		if l == nil || l.rid == "" {
			continue
		}
		layers++
		if i <= wanted {
			s.wantedAt[i] = now
		}
		active[i] = i == 0 || now.Sub(s.wantedAt[i]) < dynacastHold
		if s.wantedAt[i].IsZero() {
			// A layer that just appeared counts as wanted for the hold,
			// like one a subscriber left a moment ago.
			s.wantedAt[i] = now
			active[i] = true
		}
		if l.paused.Swap(!active[i]) && active[i] {
			l.resumedAt.Store(now.UnixNano())
		}
	}
	if layers < 2 || (s.told && active == s.active) {
		return PublisherLayers{}, false
	}
	s.active, s.told = active, true
	ev := PublisherLayers{TrackID: up.id, Active: make(map[string]bool, layers)}
	for i := 0; i < MaxLayers; i++ {
		if l := up.layer(i); l != nil && l.rid != "" {
			ev.Active[l.rid] = active[i]
		}
	}
	return ev, true
}

// dynacast tells the client which simulcast layers of its tracks anybody
// receives, so that it encodes only those. It runs on the event loop.
func (p *Participant) dynacast() {
	now := p.sfu.now()
	p.upMu.Lock()
	ups := make([]*UpTrack, 0, len(p.upTracks))
	for _, up := range p.upTracks {
		ups = append(ups, up)
	}
	p.upMu.Unlock()
	for _, up := range ups {
		if up.kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		st, ok := p.dynacasts[up]
		if !ok {
			st = &dynacastState{}
			p.dynacasts[up] = st
		}
		if ev, changed := st.update(up, now); changed {
			p.sink.Send(ev)
		}
	}
	for up := range p.dynacasts {
		if up.Closed() {
			delete(p.dynacasts, up)
		}
	}
}
