package cluster

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func host(t *testing.T, d Directory, room string) string {
	t.Helper()
	h, err := d.Host(ctx, room)
	must(t, err)
	return h
}

func claim(t *testing.T, d Directory, room, node string) string {
	t.Helper()
	h, err := d.Claim(ctx, room, node, longTTL)
	must(t, err)
	return h
}

func servers(t *testing.T, d Directory, room string) []string {
	t.Helper()
	s, err := d.Servers(ctx, room)
	must(t, err)
	slices.Sort(s)
	return s
}

// members lists room's members as "id@node:info", sorted.
func members(t *testing.T, d Directory, room string) []string {
	t.Helper()
	ms, err := d.Members(ctx, room)
	must(t, err)
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s@%s:%s", m.ID, m.Node, m.Info))
	}
	slices.Sort(out)
	return out
}

func wantList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func testClaimHost(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	if h := host(t, b, "room"); h != "" {
		t.Fatalf("Host of an unclaimed room = %q", h)
	}
	wantList(t, "Servers of an unclaimed room", servers(t, a, "room"))
	if h := claim(t, a, "room", "a"); h != "a" {
		t.Fatalf("first Claim = %q, want a", h)
	}
	if h := claim(t, b, "room", "b"); h != "a" {
		t.Fatalf("second Claim by b = %q, want the first claimant a", h)
	}
	if h := claim(t, a, "room", "a"); h != "a" {
		t.Fatalf("the host claiming again = %q, want a", h)
	}
	if h := host(t, b, "room"); h != "a" {
		t.Fatalf("Host = %q, want a", h)
	}
	// The host serves the room from its claim on; the loser does not.
	wantList(t, "Servers after the claims", servers(t, b, "room"), "a")
	if h := host(t, b, "other room"); h != "" {
		t.Fatalf("another room's host = %q", h)
	}
}

func testClaimExpires(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	h, err := a.Claim(ctx, "room", "a", shortTTL)
	must(t, err)
	if h != "a" {
		t.Fatalf("Claim = %q", h)
	}
	f.wait(lapse)
	if h := host(t, b, "room"); h != "" {
		t.Fatalf("Host after the claim's TTL = %q, want none", h)
	}
	wantList(t, "Servers after the claim's TTL", servers(t, b, "room"))
	if h := claim(t, b, "room", "b"); h != "b" {
		t.Fatalf("Claim after the first lapsed = %q, want b", h)
	}
}

func testServeRenewsClaim(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	_, err := a.Claim(ctx, "room", "a", shortTTL)
	must(t, err)
	must(t, a.Serve(ctx, "room", "a", longTTL)) // the host's Serve renews its claim
	must(t, b.Serve(ctx, "room", "b", shortTTL))
	f.wait(lapse)
	if h := host(t, b, "room"); h != "a" {
		t.Fatalf("Host after Serve renewed the claim = %q, want a", h)
	}
	wantList(t, "Servers after b's TTL", servers(t, b, "room"), "a")
	// b serving does not make it the host, nor renew a's claim.
	_, err = a.Claim(ctx, "room2", "a", shortTTL)
	must(t, err)
	must(t, b.Serve(ctx, "room2", "b", longTTL))
	f.wait(lapse)
	if h := host(t, b, "room2"); h != "" {
		t.Fatalf("Host of room2 = %q after a's claim lapsed, want none", h)
	}
	wantList(t, "Servers of room2", servers(t, a, "room2"), "b")
}

func testMembers(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	claim(t, a, "room", "a")
	must(t, b.Serve(ctx, "room", "b", longTTL))
	wantList(t, "Members of a new room", members(t, a, "room"))
	put := func(d Directory, id, node, info string) {
		t.Helper()
		must(t, d.PutMember(ctx, "room", Member{ID: id, Node: node, Info: []byte(info)}))
	}
	put(a, "m1", "a", `{"name":"Ann"}`)
	put(b, "m2", "b", "\x00binary\xff")
	put(a, "m3", "a", "")
	wantList(t, "Members", members(t, b, "room"), "m1@a:{\"name\":\"Ann\"}", "m2@b:\x00binary\xff", "m3@a:")
	put(a, "m1", "a", `{"name":"Anna"}`)
	must(t, a.RemoveMember(ctx, "room", "m3"))
	must(t, a.RemoveMember(ctx, "room", "never-there"))
	must(t, a.RemoveMember(ctx, "no such room", "m1"))
	wantList(t, "Members after replace and remove", members(t, b, "room"), "m1@a:{\"name\":\"Anna\"}", "m2@b:\x00binary\xff")

	// A member put before its node serves the room shows once it does.
	put(a, "m4", "c", "")
	wantList(t, "Members with c not serving", members(t, b, "room"), "m1@a:{\"name\":\"Anna\"}", "m2@b:\x00binary\xff")
	must(t, f.node(3).Serve(ctx, "room", "c", shortTTL))
	wantList(t, "Members with c serving", members(t, b, "room"), "m1@a:{\"name\":\"Anna\"}", "m2@b:\x00binary\xff", "m4@c:")
	// ... and goes when that node's serving lapses.
	f.wait(lapse)
	wantList(t, "Members after c lapsed", members(t, b, "room"), "m1@a:{\"name\":\"Anna\"}", "m2@b:\x00binary\xff")

	// Members' info is the caller's: changing it afterwards changes nothing.
	info := []byte("v1")
	must(t, a.PutMember(ctx, "room2", Member{ID: "x", Node: "a", Info: info}))
	info[0] = 'X'
	claim(t, a, "room2", "a")
	ms, err := a.Members(ctx, "room2")
	must(t, err)
	if len(ms) != 1 || !bytes.Equal(ms[0].Info, []byte("v1")) {
		t.Fatalf("Members of room2 = %+v, want x with info v1", ms)
	}
}

func testLeaveKeepsServedRoom(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	claim(t, a, "room", "a")
	must(t, a.Serve(ctx, "room", "a", longTTL))
	must(t, b.Serve(ctx, "room", "b", longTTL))
	must(t, a.PutMember(ctx, "room", Member{ID: "on-a", Node: "a"}))
	must(t, a.PutMember(ctx, "room", Member{ID: "also-on-a", Node: "a"}))
	must(t, b.PutMember(ctx, "room", Member{ID: "on-b", Node: "b"}))

	// The last member on a leaves; b still serves the room.
	must(t, a.RemoveMember(ctx, "room", "on-a"))
	removed, err := a.Leave(ctx, "room", "a")
	must(t, err)
	if removed {
		t.Fatal("Leave(a) removed the room that b still serves")
	}
	wantList(t, "Servers after a left", servers(t, b, "room"), "b")
	wantList(t, "Members after a left (a's members go with it)", members(t, b, "room"), "on-b@b:")
	if h := host(t, b, "room"); h != "a" {
		t.Fatalf("Host after a left = %q: the claim lasts until its TTL", h)
	}
	if len(f.roomState("room")) == 0 {
		t.Fatal("the room's state is gone while b serves it")
	}

	// Then b leaves: no live node serves the room, nothing of it is left.
	must(t, b.RemoveMember(ctx, "room", "on-b"))
	removed, err = b.Leave(ctx, "room", "b")
	must(t, err)
	if !removed {
		t.Fatal("Leave(b), the last server, did not remove the room")
	}
	if left := f.roomState("room"); len(left) != 0 {
		t.Fatalf("after the last Leave the room's state is still there: %q", left)
	}
	if h := host(t, a, "room"); h != "" {
		t.Fatalf("Host after the room was removed = %q", h)
	}
	wantList(t, "Servers after the room was removed", servers(t, a, "room"))
	wantList(t, "Members after the room was removed", members(t, a, "room"))
	// Leaving a room that has no state is not an error, and says so.
	removed, err = a.Leave(ctx, "room", "a")
	must(t, err)
	if !removed {
		t.Fatal("Leave of a room with no state did not report it removed")
	}
}

func testLeaveLapsedServers(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	claim(t, b, "room", "b")
	must(t, a.Serve(ctx, "room", "a", shortTTL))
	must(t, a.PutMember(ctx, "room", Member{ID: "on-a", Node: "a"}))
	f.wait(lapse)
	// a died without leaving; b leaves: nobody live serves the room.
	removed, err := b.Leave(ctx, "room", "b")
	must(t, err)
	if !removed {
		t.Fatal("Leave(b) kept a room whose only other server had lapsed")
	}
	if left := f.roomState("room"); len(left) != 0 {
		t.Fatalf("state left: %q", left)
	}
	// A room whose servers all lapsed and that nobody leaves expires.
	must(t, a.Serve(ctx, "room2", "a", shortTTL))
	must(t, a.PutMember(ctx, "room2", Member{ID: "on-a", Node: "a"}))
	f.wait(lapse)
	if left := f.roomState("room2"); len(left) != 0 {
		t.Fatalf("room2's state outlived its last server: %q", left)
	}
}

func testClaimConcurrent(t *testing.T, f *fixture) {
	const n = 50
	nodes := []string{"n0", "n1", "n2"}
	for i := range nodes {
		f.node(i) // each node's client exists before the race starts
	}
	hosts := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			hosts[i], errs[i] = f.node(i%3).Claim(ctx, "contested", nodes[i%3], longTTL)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		must(t, err)
		if hosts[i] != hosts[0] {
			t.Fatalf("Claim %d got host %q, Claim 0 got %q", i, hosts[i], hosts[0])
		}
	}
	if !slices.Contains(nodes, hosts[0]) {
		t.Fatalf("host %q is none of the claimants", hosts[0])
	}
	for i := range nodes {
		if h := host(t, f.node(i), "contested"); h != hosts[0] {
			t.Fatalf("node %d sees host %q, want %q", i, h, hosts[0])
		}
	}
	wantList(t, "Servers", servers(t, f.node(0), "contested"), hosts[0])
}

// testRoomNames uses names that could break key naming: hash-tag braces,
// the escape character, separators, non-ASCII. Each must be its own room.
func testRoomNames(t *testing.T, f *fixture) {
	names := []string{"{a}", "a}b{c", "}{", "%7Ba%7D", "%", "x:y", "x:y}:host", "café ☕", "sp ace", string(bytes.Repeat([]byte("long"), 64))}
	for i, room := range names {
		node := fmt.Sprintf("node-%d", i)
		if h := claim(t, f.node(i%3), room, node); h != node {
			t.Fatalf("Claim(%q) = %q, want %q: the name collides with another", room, h, node)
		}
		must(t, f.node(i%3).PutMember(ctx, room, Member{ID: "m", Node: node}))
	}
	for i, room := range names {
		node := fmt.Sprintf("node-%d", i)
		if h := host(t, f.node(0), room); h != node {
			t.Fatalf("Host(%q) = %q, want %q", room, h, node)
		}
		wantList(t, fmt.Sprintf("Members(%q)", room), members(t, f.node(1), room), "m@"+node+":")
		removed, err := f.node(2).Leave(ctx, room, node)
		must(t, err)
		if !removed {
			t.Fatalf("Leave(%q) kept the room", room)
		}
	}
}

func testInvalidArguments(t *testing.T, f *fixture) {
	s := f.node(0)
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"Announce no ID", s.Announce(ctx, NodeInfo{}, longTTL)},
		{"Announce zero TTL", s.Announce(ctx, NodeInfo{ID: "a"}, 0)},
		{"Announce sub-ms TTL", s.Announce(ctx, NodeInfo{ID: "a"}, time.Microsecond)},
		{"Withdraw no ID", s.Withdraw(ctx, "")},
		{"Claim no room", second(s.Claim(ctx, "", "a", longTTL))},
		{"Claim no node", second(s.Claim(ctx, "r", "", longTTL))},
		{"Claim negative TTL", second(s.Claim(ctx, "r", "a", -time.Second))},
		{"Host no room", second(s.Host(ctx, ""))},
		{"Serve no node", s.Serve(ctx, "r", "", longTTL)},
		{"Serve zero TTL", s.Serve(ctx, "r", "a", 0)},
		{"Leave no room", second(s.Leave(ctx, "", "a"))},
		{"Release no room", s.Release(ctx, "", "a")},
		{"Release no node", s.Release(ctx, "r", "")},
		{"Servers no room", second(s.Servers(ctx, ""))},
		{"PutMember no ID", s.PutMember(ctx, "r", Member{Node: "a"})},
		{"PutMember no node", s.PutMember(ctx, "r", Member{ID: "m"})},
		{"RemoveMember no ID", s.RemoveMember(ctx, "r", "")},
		{"Members no room", second(s.Members(ctx, ""))},
		{"Send no node", s.Send(ctx, "", []byte("x"))},
		{"Receive no node", s.Receive(ctx, "", func([]byte) {})},
	} {
		errorsIs(t, tc.what, tc.err, ErrInvalid)
	}
	// Nothing was recorded by the refused calls.
	if got := nodesByID(t, f); len(got) != 0 {
		t.Fatalf("refused announcements listed: %v", keys(got))
	}
	if h := host(t, s, "r"); h != "" {
		t.Fatalf("refused claim recorded: host %q", h)
	}
}

// second is the error of a two-result call.
func second[T any](_ T, err error) error { return err }

// testClaimSurvivesLeave: a node claims a room that another serves; the
// other leaves before the new host's first Serve. The room stays.
func testClaimSurvivesLeave(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	must(t, a.Serve(ctx, "room", "a", longTTL))
	if h := claim(t, b, "room", "b"); h != "b" {
		t.Fatalf("Claim = %q, want b", h)
	}
	removed, err := a.Leave(ctx, "room", "a")
	must(t, err)
	if removed {
		t.Fatal("Leave(a) removed the room b had just claimed")
	}
	if h := host(t, a, "room"); h != "b" {
		t.Fatalf("Host = %q, want b", h)
	}
	wantList(t, "Servers", servers(t, a, "room"), "b")
}

// testRelease: a host gives its claim up and goes on serving the room
// with its members; another node then claims it, and the first node's
// Release or Serve does not take it back.
func testRelease(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	claim(t, a, "room", "a")
	must(t, a.Serve(ctx, "room", "a", longTTL))
	must(t, a.PutMember(ctx, "room", Member{ID: "on-a", Node: "a"}))
	// Only the holder releases a claim.
	must(t, b.Release(ctx, "room", "b"))
	if h := host(t, b, "room"); h != "a" {
		t.Fatalf("Host after another node's Release = %q, want a", h)
	}
	must(t, a.Release(ctx, "room", "a"))
	if h := host(t, b, "room"); h != "" {
		t.Fatalf("Host after the host's Release = %q, want none", h)
	}
	wantList(t, "Servers after Release", servers(t, b, "room"), "a")
	wantList(t, "Members after Release", members(t, b, "room"), "on-a@a:")
	// Serving does not claim the room again.
	must(t, a.Serve(ctx, "room", "a", longTTL))
	if h := host(t, b, "room"); h != "" {
		t.Fatalf("Host after the releaser's Serve = %q, want none", h)
	}
	if h := claim(t, b, "room", "b"); h != "b" {
		t.Fatalf("Claim after Release = %q, want b", h)
	}
	must(t, a.Release(ctx, "room", "a"))
	if h := host(t, a, "room"); h != "b" {
		t.Fatalf("Host after the former host released again = %q, want b", h)
	}
	wantList(t, "Servers with both", servers(t, a, "room"), "a", "b")
	// The former host leaves: the room is b's.
	removed, err := a.Leave(ctx, "room", "a")
	must(t, err)
	if removed {
		t.Fatal("Leave(a) removed the room b holds")
	}
	wantList(t, "Servers after a left", servers(t, b, "room"), "b")
	// Releasing a room nobody holds, or that has no state, is no error.
	must(t, a.Release(ctx, "room", "a"))
	must(t, a.Release(ctx, "no such room", "a"))
	if left := f.roomState("no such room"); len(left) != 0 {
		t.Fatalf("Release of an unknown room left state: %q", left)
	}
}
