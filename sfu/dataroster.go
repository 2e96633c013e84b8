package sfu

import "slices"

// dataRoster is who in a room can receive application data: the clients
// of this node that opened a data channel, and the relays to the other
// nodes that serve the room. A room replaces it whole when it changes
// (copy on write), so that routing a message reads it without a lock.
type dataRoster struct {
	clients []*Participant
	byID    map[string]*Participant
	relays  []*Relay
	// remote maps the participants of other nodes to the relay that
	// brought them here: a message for them goes to their node alone.
	remote map[string]*Relay
}

// refreshData rebuilds the room's data roster. The caller holds no lock.
func (r *Room) refreshData() {
	if r == nil {
		return
	}
	next := &dataRoster{byID: make(map[string]*Participant), remote: make(map[string]*Relay)}
	r.mu.Lock()
	for _, m := range r.members {
		switch p := m.p.(type) {
		case *Participant:
			if p.data.hasChannel() {
				next.clients = append(next.clients, p)
				next.byID[p.id] = p
			}
		case *relayMember:
			next.relays = append(next.relays, p.r)
		case *importedParticipant:
			next.remote[p.info.ID] = p.r
		}
	}
	// Stored under mu, so that two refreshes cannot store out of order.
	r.data.Store(next)
	r.mu.Unlock()
	if len(next.clients) > 0 {
		for _, rl := range next.relays {
			rl.wantData()
		}
	}
}

// routeData delivers d to its recipients on this node and, unless it
// came from another node, hands it to the relays for those elsewhere.
// It runs on the sender's goroutine and takes no lock.
func (r *Room) routeData(d *dataDelivery) {
	roster := r.data.Load()
	if roster == nil {
		return
	}
	if len(d.to) == 0 {
		for _, q := range roster.clients {
			if q.id != d.from {
				q.deliverData(d)
			}
		}
		if !d.relayed {
			for _, rl := range roster.relays {
				rl.forwardData(d)
			}
		}
		return
	}
	// The relays to the nodes of the recipients elsewhere, each once.
	var relays [8]*Relay
	n := 0
	for i, id := range d.to {
		if id == d.from || slices.Contains(d.to[:i], id) {
			continue
		}
		if q := roster.byID[id]; q != nil {
			q.deliverData(d)
			continue
		}
		rl := roster.remote[id]
		if rl == nil || d.relayed || slices.Contains(relays[:min(n, len(relays))], rl) {
			continue
		}
		if n < len(relays) {
			relays[n] = rl
		}
		n++
	}
	switch {
	case n > len(relays): // more nodes than kept track of: all of them
		for _, rl := range roster.relays {
			rl.forwardData(d)
		}
	default:
		for _, rl := range relays[:n] {
			rl.forwardData(d)
		}
	}
}
