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
}

// refreshData rebuilds the room's data roster. The caller holds no lock.
func (r *Room) refreshData() {
	if r == nil {
		return
	}
	next := &dataRoster{byID: make(map[string]*Participant)}
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
	elsewhere := false
	for i, id := range d.to {
		if id == d.from || slices.Contains(d.to[:i], id) {
			continue
		}
		if q := roster.byID[id]; q != nil {
			q.deliverData(d)
		} else {
			elsewhere = true
		}
	}
	if elsewhere && !d.relayed {
		for _, rl := range roster.relays {
			rl.forwardData(d)
		}
	}
}
