package cluster

import "testing"

func TestPlace(t *testing.T) {
	node := func(id string, participants int, cpu float64, limits Limits) NodeInfo {
		return NodeInfo{ID: id, Limits: limits, Load: Load{Participants: participants, CPU: cpu}}
	}
	cap100 := Limits{Participants: 100}
	tests := []struct {
		name   string
		nodes  []NodeInfo
		prefer string
		want   string
		ok     bool
	}{
		{"no nodes", nil, "a", "", false},
		{"the only node", []NodeInfo{node("a", 5, 0.1, cap100)}, "b", "a", true},
		{"least utilised", []NodeInfo{node("a", 50, 0.1, cap100), node("b", 10, 0.1, cap100)}, "a", "b", true},
		{"full node skipped", []NodeInfo{node("a", 100, 0.1, cap100), node("b", 99, 0.1, cap100)}, "a", "b", true},
		{"all full", []NodeInfo{node("a", 100, 0, cap100), node("b", 100, 0, cap100)}, "a", "", false},
		{"draining skipped", []NodeInfo{{ID: "a", Draining: true}, node("b", 80, 0.5, cap100)}, "a", "b", true},
		{"CPU limit counts", []NodeInfo{node("a", 1, 0.79, Limits{CPU: 0.8}), node("b", 40, 0.2, Limits{CPU: 0.8})}, "a", "b", true},
		{"CPU at limit is full", []NodeInfo{node("a", 1, 0.8, Limits{CPU: 0.8})}, "a", "", false},
		{"no limits: CPU decides", []NodeInfo{node("a", 1, 0.9, Limits{}), node("b", 40, 0.1, Limits{})}, "a", "b", true},
		{"equal utilisation: fewer participants", []NodeInfo{node("a", 3, 0.11, Limits{}), node("b", 2, 0.12, Limits{})}, "a", "b", true},
		{"all equal: the front door", []NodeInfo{node("a", 2, 0.1, Limits{}), node("b", 2, 0.1, Limits{}), node("c", 2, 0.1, Limits{})}, "b", "b", true},
		{"all equal, front door elsewhere: smallest ID", []NodeInfo{node("c", 0, 0, Limits{}), node("b", 0, 0, Limits{})}, "x", "b", true},
		{"track limit", []NodeInfo{{ID: "a", Limits: Limits{Tracks: 10}, Load: Load{Tracks: 10}}, node("b", 0, 0.5, Limits{})}, "a", "b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Place(tt.nodes, tt.prefer)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Place = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
