package signaling_test

import (
	"sync"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

// soakRoster is who is, or lately was, in which room of the soak.
type soakRoster struct {
	mu      sync.Mutex
	members map[string]*soakMember
}

// soakMember is one participant's stay.
type soakMember struct {
	id, room  string
	publishes bool
	since     time.Time // joined, and publishing if it publishes
	// Guarded by the roster's mu: until is zero while it stays, and the
	// client is let go when it leaves, so the roster keeps no closed
	// client's memory.
	until  time.Time
	client *loadtest.Client
}

func (r *soakRoster) add(m *soakMember) *soakMember {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members == nil {
		r.members = map[string]*soakMember{}
	}
	r.members[m.id] = m
	return m
}

// leave records that m left at at.
func (r *soakRoster) leave(m *soakMember, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.until, m.client = at, nil
}

// client returns m's client while m stays.
func (r *soakRoster) client(m *soakMember) (*loadtest.Client, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m.client, m.client != nil
}

// present says whether m has not left.
func (r *soakRoster) present(m *soakMember) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m.until.IsZero()
}

// room returns the room id was in, if the roster knows id.
func (r *soakRoster) room(id string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[id]
	if !ok {
		return "", false
	}
	return m.room, true
}

// others returns the members of room other than self that are still in.
func (r *soakRoster) others(room string, self *soakMember) []*soakMember {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*soakMember
	for _, m := range r.members {
		if m.room == room && m != self && m.until.IsZero() {
			out = append(out, m)
		}
	}
	return out
}

// prune forgets those who left before cutoff: no one still in can have
// shared a room with them.
func (r *soakRoster) prune(cutoff time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, m := range r.members {
		if !m.until.IsZero() && m.until.Before(cutoff) {
			delete(r.members, id)
		}
	}
}

// clear forgets everyone.
func (r *soakRoster) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = nil
}
