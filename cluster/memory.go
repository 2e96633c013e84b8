package cluster

import (
	"context"
	"slices"
	"sync"
	"time"
)

const (
	// orphanTTL is how long the members of a room that no live node
	// serves are kept: long enough for the node that put them to call
	// Serve, short enough that a node dying between the two calls leaves
	// nothing behind for good. Both implementations use it.
	orphanTTL = time.Minute
	// memorySweepEvery is how often, by the injected clock, Memory drops
	// every lapsed node and room (the Redis implementation lets keys
	// expire instead).
	memorySweepEvery = time.Minute
	// memoryQueueMax bounds the messages waiting for one receiver; the
	// oldest go first, as in a Redis stream trimmed by MAXLEN.
	memoryQueueMax = 10000
)

// Memory is the Registry, Directory and Bus of one process: the default of
// a single node, and the shared state of several nodes that a test runs in
// one process. TTLs are kept with the clock given to NewMemory. It is safe
// for concurrent use.
type Memory struct {
	now func() time.Time

	mu        sync.Mutex
	nodes     map[string]memoryNode  // guarded by mu
	rooms     map[string]*memoryRoom // guarded by mu
	receivers map[string][]*receiver // node -> its active Receive calls; guarded by mu
	swept     time.Time              // last sweep; guarded by mu
}

var (
	_ Registry  = (*Memory)(nil)
	_ Directory = (*Memory)(nil)
	_ Bus       = (*Memory)(nil)
)

type memoryNode struct {
	info  NodeInfo
	until time.Time
}

// NewMemory returns empty shared state keeping time with now (time.Now
// when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:       now,
		nodes:     map[string]memoryNode{},
		rooms:     map[string]*memoryRoom{},
		receivers: map[string][]*receiver{},
	}
}

// Announce implements Registry.
func (m *Memory) Announce(_ context.Context, info NodeInfo, ttl time.Duration) error {
	if err := checkName("node", info.ID); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	info.MediaAddrs = slices.Clone(info.MediaAddrs)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	m.nodes[info.ID] = memoryNode{info: info, until: now.Add(ttl)}
	return nil
}

// Withdraw implements Registry.
func (m *Memory) Withdraw(_ context.Context, id string) error {
	if err := checkName("node", id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nodes, id)
	return nil
}

// Nodes implements Registry.
func (m *Memory) Nodes(context.Context) ([]NodeInfo, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []NodeInfo
	for id, n := range m.nodes {
		if !now.Before(n.until) {
			delete(m.nodes, id)
			continue
		}
		info := n.info
		info.MediaAddrs = slices.Clone(info.MediaAddrs)
		out = append(out, info)
	}
	return out, nil
}

// sweepLocked drops every lapsed node and room, at most once per
// memorySweepEvery, so that state nobody asks about again does not stay.
func (m *Memory) sweepLocked(now time.Time) {
	if now.Sub(m.swept) < memorySweepEvery {
		return
	}
	m.swept = now
	for id, n := range m.nodes {
		if !now.Before(n.until) {
			delete(m.nodes, id)
		}
	}
	for name, r := range m.rooms {
		if !r.alive(now) {
			delete(m.rooms, name)
		}
	}
}
