package cluster

import (
	"context"
	"slices"
	"time"
)

// memoryRoom is the state of one room in Memory, shaped like its Redis
// keys: a claim with an expiry, servers each with an expiry, members.
type memoryRoom struct {
	host      string
	hostUntil time.Time
	servers   map[string]time.Time // node -> expiry
	members   map[string]Member    // id -> member
	// orphanUntil keeps members put while no live node served the room.
	orphanUntil time.Time
}

func (r *memoryRoom) hostAt(now time.Time) string {
	if r.host != "" && now.Before(r.hostUntil) {
		return r.host
	}
	return ""
}

// live reports whether node serves the room at now.
func (r *memoryRoom) live(node string, now time.Time) bool {
	until, ok := r.servers[node]
	return ok && now.Before(until)
}

// alive reports whether anything of the room is left at now: Redis would
// have let all its keys expire otherwise.
func (r *memoryRoom) alive(now time.Time) bool {
	return r.hostAt(now) != "" || r.served(now) || len(r.members) > 0 && now.Before(r.orphanUntil)
}

// served reports whether a live node serves the room at now.
func (r *memoryRoom) served(now time.Time) bool {
	for node := range r.servers {
		if r.live(node, now) {
			return true
		}
	}
	return false
}

// roomLocked returns room's state, nil if it has none and create is false.
// Lapsed state is dropped first.
func (m *Memory) roomLocked(room string, now time.Time, create bool) *memoryRoom {
	r := m.rooms[room]
	if r != nil && !r.alive(now) {
		delete(m.rooms, room)
		r = nil
	}
	if r == nil && create {
		r = &memoryRoom{servers: map[string]time.Time{}, members: map[string]Member{}}
		m.rooms[room] = r
	}
	return r
}

// Claim implements Directory. The node that holds the claim also serves
// the room for ttl, as if it had called Serve.
func (m *Memory) Claim(_ context.Context, room, node string, ttl time.Duration) (string, error) {
	if err := checkRoomNode(room, node); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	r := m.roomLocked(room, now, true)
	if h := r.hostAt(now); h != "" && h != node {
		return h, nil
	}
	r.host, r.hostUntil = node, now.Add(ttl)
	r.servers[node] = now.Add(ttl)
	return node, nil
}

// Host implements Directory.
func (m *Memory) Host(_ context.Context, room string) (string, error) {
	if err := checkName("room", room); err != nil {
		return "", err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.roomLocked(room, now, false); r != nil {
		return r.hostAt(now), nil
	}
	return "", nil
}

// Serve implements Directory.
func (m *Memory) Serve(_ context.Context, room, node string, ttl time.Duration) error {
	if err := checkRoomNode(room, node); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	r := m.roomLocked(room, now, true)
	r.servers[node] = now.Add(ttl)
	if r.hostAt(now) == node {
		r.hostUntil = now.Add(ttl)
	}
	return nil
}

// Leave implements Directory.
func (m *Memory) Leave(_ context.Context, room, node string) (bool, error) {
	if err := checkRoomNode(room, node); err != nil {
		return false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roomLocked(room, now, false)
	if r == nil {
		return true, nil
	}
	delete(r.servers, node)
	for n := range r.servers {
		if !r.live(n, now) {
			delete(r.servers, n)
		}
	}
	if len(r.servers) == 0 {
		delete(m.rooms, room)
		return true, nil
	}
	for id, mem := range r.members {
		if !r.live(mem.Node, now) {
			delete(r.members, id)
		}
	}
	return false, nil
}

// Release implements Directory.
func (m *Memory) Release(_ context.Context, room, node string) error {
	if err := checkRoomNode(room, node); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.roomLocked(room, now, false); r != nil && r.hostAt(now) == node {
		r.host, r.hostUntil = "", time.Time{}
	}
	return nil
}

// Servers implements Directory.
func (m *Memory) Servers(_ context.Context, room string) ([]string, error) {
	if err := checkName("room", room); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roomLocked(room, now, false)
	if r == nil {
		return nil, nil
	}
	var out []string
	for node := range r.servers {
		if r.live(node, now) {
			out = append(out, node)
		}
	}
	return out, nil
}

// PutMember implements Directory.
func (m *Memory) PutMember(_ context.Context, room string, mem Member) error {
	if err := checkMember(room, mem); err != nil {
		return err
	}
	mem.Info = slices.Clone(mem.Info)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	r := m.roomLocked(room, now, true)
	r.members[mem.ID] = mem
	if !r.served(now) {
		r.orphanUntil = now.Add(orphanTTL)
	}
	return nil
}

// RemoveMember implements Directory.
func (m *Memory) RemoveMember(_ context.Context, room, id string) error {
	if err := checkName("room", room); err != nil {
		return err
	}
	if err := checkName("member id", id); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.roomLocked(room, now, false); r != nil {
		delete(r.members, id)
	}
	return nil
}

// Members implements Directory.
func (m *Memory) Members(_ context.Context, room string) ([]Member, error) {
	if err := checkName("room", room); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roomLocked(room, now, false)
	if r == nil {
		return nil, nil
	}
	var out []Member
	for _, mem := range r.members {
		if r.live(mem.Node, now) {
			mem.Info = slices.Clone(mem.Info)
			out = append(out, mem)
		}
	}
	return out, nil
}
