package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The contract suite: every implementation runs it (memory, a standalone
// redis-server, a three-master Redis Cluster). Expiry is checked with
// short TTLs; what must still be there is checked under long ones, so that
// a slow machine cannot make a live entry lapse.
const (
	shortTTL = 300 * time.Millisecond
	longTTL  = time.Minute
	// lapse is long enough after shortTTL for it to have passed.
	lapse = shortTTL + 200*time.Millisecond
)

// runContract runs the contract suite, each test on fresh state from
// newFixture.
func runContract(t *testing.T, newFixture func(t *testing.T) *fixture) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"RegistryAnnounce", testRegistryAnnounce},
		{"RegistryTTL", testRegistryTTL},
		{"ClaimHost", testClaimHost},
		{"ClaimExpires", testClaimExpires},
		{"ClaimSurvivesLeave", testClaimSurvivesLeave},
		{"ServeRenewsClaim", testServeRenewsClaim},
		{"Members", testMembers},
		{"LeaveKeepsServedRoom", testLeaveKeepsServedRoom},
		{"LeaveLapsedServers", testLeaveLapsedServers},
		{"Release", testRelease},
		{"ClaimConcurrent", testClaimConcurrent},
		{"RoomNames", testRoomNames},
		{"InvalidArguments", testInvalidArguments},
		{"BusOrder", testBusOrder},
		{"BusSenders", testBusSenders},
		{"BusRestart", testBusRestart},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newFixture(t)) })
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func nodeInfo(id string, participants int) NodeInfo {
	return NodeInfo{
		ID:         id,
		MediaAddrs: []string{"192.0.2.1:7882", "[2001:db8::1]:7882"},
		Limits:     Limits{Participants: 500, Tracks: 2000, CPU: 0.8},
		Load:       Load{Rooms: 3, Participants: participants, Tracks: 2 * participants, CPU: 0.25, ForwardedBitrate: 12_000_000},
		Draining:   participants%2 == 1,
		Updated:    time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC),
	}
}

// nodesByID lists the registry as node 0 sees it.
func nodesByID(t *testing.T, f *fixture) map[string]NodeInfo {
	t.Helper()
	list, err := f.node(0).Nodes(ctx)
	must(t, err)
	out := map[string]NodeInfo{}
	for _, n := range list {
		if _, dup := out[n.ID]; dup {
			t.Fatalf("node %s listed twice", n.ID)
		}
		out[n.ID] = n
	}
	return out
}

func sameInfo(a, b NodeInfo) bool {
	return a.Updated.Equal(b.Updated) && slices.Equal(a.MediaAddrs, b.MediaAddrs) &&
		a.ID == b.ID && a.Limits == b.Limits && a.Load == b.Load && a.Draining == b.Draining
}

func testRegistryAnnounce(t *testing.T, f *fixture) {
	if got := nodesByID(t, f); len(got) != 0 {
		t.Fatalf("empty registry lists %v", got)
	}
	a, b := nodeInfo("a", 10), nodeInfo("b", 21)
	must(t, f.node(1).Announce(ctx, a, longTTL))
	must(t, f.node(2).Announce(ctx, b, longTTL))
	got := nodesByID(t, f)
	if len(got) != 2 || !sameInfo(got["a"], a) || !sameInfo(got["b"], b) {
		t.Fatalf("Nodes = %+v, want %+v and %+v", got, a, b)
	}
	a2 := nodeInfo("a", 11)
	must(t, f.node(1).Announce(ctx, a2, longTTL))
	if got := nodesByID(t, f); len(got) != 2 || !sameInfo(got["a"], a2) {
		t.Fatalf("after a new announcement Nodes = %+v, want a as %+v", got, a2)
	}
	must(t, f.node(1).Withdraw(ctx, "a"))
	if got := nodesByID(t, f); len(got) != 1 || !sameInfo(got["b"], b) {
		t.Fatalf("after Withdraw(a) Nodes = %+v, want only b", got)
	}
	must(t, f.node(1).Withdraw(ctx, "never-announced"))
}

func testRegistryTTL(t *testing.T, f *fixture) {
	must(t, f.node(1).Announce(ctx, nodeInfo("short", 1), shortTTL))
	must(t, f.node(2).Announce(ctx, nodeInfo("renewed", 2), shortTTL))
	must(t, f.node(3).Announce(ctx, nodeInfo("long", 3), longTTL))
	// renewed announces itself again and again, short does not.
	for range 3 {
		f.wait(shortTTL / 2)
		must(t, f.node(2).Announce(ctx, nodeInfo("renewed", 2), longTTL))
	}
	got := nodesByID(t, f)
	if _, ok := got["short"]; ok || len(got) != 2 || got["renewed"].ID == "" || got["long"].ID == "" {
		t.Fatalf("after %s: Nodes = %v, want renewed and long", 3*shortTTL/2, keys(got))
	}
	// Listing twice: the pruned index must not lose the live ones.
	if got := nodesByID(t, f); len(got) != 2 {
		t.Fatalf("second listing: %v", keys(got))
	}
	// A node that announces itself again after lapsing is back.
	must(t, f.node(1).Announce(ctx, nodeInfo("short", 1), longTTL))
	if got := nodesByID(t, f); len(got) != 3 {
		t.Fatalf("after short came back: %v", keys(got))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// errorsIs fails the test unless err matches target.
func errorsIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}
