package sfu

import (
	"time"
)

// RoomState is a snapshot of a room for operators (GET /debug/rooms/NAME).
type RoomState struct {
	Room         string             `json:"room"`
	Participants []ParticipantState `json:"participants"`
}

// ParticipantState is one participant in a RoomState.
type ParticipantState struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Name     string `json:"name"`
	// Relay is "" for a client of this node, "imported" for a participant
	// a relay brings from another node, and "sending" for a relay's end
	// that sends this node's tracks to another node.
	Relay string `json:"relay,omitempty"`
	// EstimateBps is the subscriber connection's bandwidth estimate; 0
	// when the subscriber sends no feedback (nothing limits it).
	EstimateBps   int64               `json:"estimate_bps"`
	QueueDelayMs  float64             `json:"queue_delay_ms"`
	LossPct       float64             `json:"loss_pct"`
	Published     []PublishedState    `json:"published"`
	Subscriptions []SubscriptionState `json:"subscriptions"`
}

// PublishedState is one published track and its layers.
type PublishedState struct {
	TrackID string       `json:"track_id"`
	Kind    string       `json:"kind"`
	Codec   string       `json:"codec"`
	Muted   bool         `json:"muted"`
	Layers  []LayerState `json:"layers"`
}

// LayerState is one simulcast layer of a published track.
type LayerState struct {
	Index      int     `json:"index"`
	RID        string  `json:"rid"`
	BitrateBps int64   `json:"bitrate_bps"`
	Active     bool    `json:"active"`
	Paused     bool    `json:"paused_by_dynacast"`
	Received   uint64  `json:"packets_received"`
	Lost       int64   `json:"packets_lost"`
	JitterMs   float64 `json:"jitter_ms"`
}

// SubscriptionState is one track a participant receives.
type SubscriptionState struct {
	TrackID  string `json:"track_id"`
	From     string `json:"from"`
	Kind     string `json:"kind"`
	Current  int    `json:"current_layer"`
	Target   int    `json:"target_layer"`
	MaxLayer int    `json:"max_layer"`
}

// RoomState returns a snapshot of the named room, or false if there is none.
func (s *SFU) RoomState(name string) (RoomState, bool) {
	s.mu.Lock()
	r, ok := s.rooms[name]
	s.mu.Unlock()
	if !ok {
		return RoomState{}, false
	}
	r.mu.Lock()
	members := make([]*member, 0, len(r.members))
	for _, m := range r.members {
		members = append(members, &member{p: m.p, role: m.role, tracks: append([]*UpTrack(nil), m.tracks...)})
	}
	r.mu.Unlock()

	now := s.now()
	state := RoomState{Room: name, Participants: []ParticipantState{}}
	for _, m := range members {
		info := m.p.Info()
		ps := ParticipantState{ID: info.ID, Identity: info.Identity, Name: info.Name,
			Published: []PublishedState{}, Subscriptions: []SubscriptionState{}}
		switch m.role {
		case roleImported:
			ps.Relay = "imported"
		case roleRelay:
			ps.Relay = "sending"
		}
		for _, up := range m.tracks {
			ps.Published = append(ps.Published, up.state(now))
		}
		if d, ok := m.p.(debugStater); ok {
			d.debugState(now, &ps)
		}
		state.Participants = append(state.Participants, ps)
	}
	return state, true
}

// debugStater is a room member that can tell RoomState about its
// connection and subscriptions, as a Participant does. The Room itself
// needs none of it, so it is not part of roomMember.
type debugStater interface {
	debugState(now time.Time, ps *ParticipantState)
}

// debugState fills in the subscriber connection's figures and the
// subscriptions. It waits for the event loop, which owns the
// subscriptions.
func (p *Participant) debugState(now time.Time, ps *ParticipantState) {
	ps.EstimateBps, _ = p.bw.bwe.Estimate(now)
	delay, loss := p.bw.bwe.Stats()
	ps.QueueDelayMs, ps.LossPct = float64(delay)/float64(time.Millisecond), loss*100
	_ = p.do(func() error {
		for _, sub := range p.downs {
			cur, tgt := sub.down.Layers()
			ps.Subscriptions = append(ps.Subscriptions, SubscriptionState{
				TrackID: sub.down.up.id, From: sub.down.up.publisherID, Kind: sub.down.up.kind.String(),
				Current: cur, Target: tgt, MaxLayer: int(sub.down.maxLayer.Load()),
			})
		}
		return nil
	})
}

func (u *UpTrack) state(now time.Time) PublishedState {
	ps := PublishedState{TrackID: u.id, Kind: u.kind.String(), Codec: u.codec.MimeType, Muted: u.muted.Load(), Layers: []LayerState{}}
	for i := 0; i < MaxLayers; i++ {
		l := u.layer(i)
		if l == nil {
			continue
		}
		st := l.stats.Snapshot()
		ps.Layers = append(ps.Layers, LayerState{
			Index: i, RID: l.rid, BitrateBps: l.bitrate.Load(), Active: l.active(now), Paused: l.paused.Load(),
			Received: st.Received, Lost: st.Lost, JitterMs: st.Jitter * 1000,
		})
	}
	return ps
}
