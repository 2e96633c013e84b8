package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/loadtest"
)

// TestDrainMovesClients: node1 hosts a room; Ann's WebSocket is on node1,
// Bob's on node2 (relayed to node1), both publish. Draining node1 makes
// /healthz say "draining" and hands the room over: both clients are told
// to move (Bob through node2), open new sessions through node2 (Ann's
// next URL, Bob's same one), where the room is placed while node1 still
// serves the old sessions, and leave the old ones once the new ones
// receive media. Drain returns once node1 is empty; both are then served
// by node2, each receiving the other's media, and neither saw the other's
// video pause longer than moveBreak at any time across the move,
// counting the frames each received on either of its sessions.
func TestDrainMovesClients(t *testing.T) {
	store := memoryStore()
	nodes := startCluster(t, store, "127.0.0.1", "127.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const room = "standup"
	frames := newFrameLog()
	join := func(n *node.Node, who string) (*loadtest.Client, error) {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(n), Token: clusterToken(t, room, who), LoopbackOnly: true,
			Observe: frames.observer(who)})
		if err != nil {
			return nil, fmt.Errorf("%s joining through %s: %w", who, n.Addr(), err)
		}
		t.Cleanup(c.Close)
		frames.name(c.Self.ID, who)
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			return nil, fmt.Errorf("%s publishing: %w", who, err)
		}
		return c, nil
	}
	ann, err := join(nodes[0], "ann")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := join(nodes[1], "bob")
	if err != nil {
		t.Fatal(err)
	}
	expectMedia(t, bob, ann, nodes[0].MediaAddr().String())
	expectMedia(t, ann, bob, nodes[0].MediaAddr().String())

	drainStart := time.Now()
	drained := make(chan error, 1)
	go func() {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		defer dcancel()
		drained <- nodes[0].Drain(dctx)
	}()
	type moved struct {
		who      string
		old, now *loadtest.Client
		told     loadtest.Message // move, or bye on a server that does not move clients
		err      error
	}
	results := make(chan moved, 2)
	for _, m := range []moved{{who: "ann", old: ann}, {who: "bob", old: bob}} {
		go func() {
			m.now, m.told, m.err = moveOrRejoin(ctx, m.old, func() (*loadtest.Client, error) { return join(nodes[1], m.who) })
			results <- m
		}()
	}
	now := map[string]*loadtest.Client{}
	for range 2 {
		m := <-results
		if m.err != nil {
			t.Fatalf("%s: %v", m.who, m.err)
		}
		if m.told.Type != "move" || m.told.TimeLeft <= 0 {
			t.Errorf("%s was told %s %q (time left %d ms), want move with the time left", m.who, m.told.Type, m.told.Reason, m.told.TimeLeft)
		}
		now[m.who] = m.now
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("drain did not return")
	}
	t.Logf("drain took %s", time.Since(drainStart).Round(time.Millisecond))
	if got := nodes[0].SFU().RoomCount(); got != 0 {
		t.Errorf("node1 holds %d rooms after draining", got)
	}
	if got := nodes[0].Signaling().Connections(); got != 0 {
		t.Errorf("node1 holds %d WebSockets after draining", got)
	}
	if code, body := get(t, "http://"+nodes[0].Addr().String()+"/healthz"); code != http.StatusServiceUnavailable || body != "draining" {
		t.Errorf("/healthz of the draining node: %d %q, want 503 \"draining\"", code, body)
	}
	if code, body := get(t, "http://"+nodes[1].Addr().String()+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz of node2: %d %q, want 200 \"ok\"", code, body)
	}
	infos, err := store.Registry.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range infos {
		if n.ID == "node1" && !n.Draining {
			t.Errorf("the registry does not show node1 draining: %+v", n)
		}
	}
	if host, err := store.Directory.Host(ctx, room); err != nil || host != "node2" {
		t.Errorf("after the move the room is hosted by %q (%v), want node2", host, err)
	}
	ann2, bob2 := now["ann"], now["bob"]
	expectMedia(t, ann2, bob2, nodes[1].MediaAddr().String())
	expectMedia(t, bob2, ann2, nodes[1].MediaAddr().String())
	// The old sessions left: node2's room holds the new ones alone.
	want := []string{ann2.Self.ID, bob2.Self.ID}
	slices.Sort(want)
	if c := settle(time.Now().Add(10*time.Second), func() string {
		st, _ := nodes[1].SFU().RoomState(room)
		var ids []string
		for _, p := range st.Participants {
			ids = append(ids, p.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			return fmt.Sprintf("node2's room holds %v, want %v", ids, want)
		}
		return ""
	}); c != "" {
		t.Error(c)
	}
	// Another second of media after the move, then the pauses.
	time.Sleep(time.Second)
	for _, pair := range [][2]string{{"ann", "bob"}, {"bob", "ann"}} {
		longest, ended, n := frames.longestPause(pair[0], pair[1], drainStart.Add(-time.Second))
		t.Logf("%s received %d frames of %s's video from a second before the drain; the longest pause %s, ending %s after the drain began",
			pair[0], n, pair[1], longest.Round(time.Millisecond), ended.Sub(drainStart).Round(time.Millisecond))
		if n < 100 {
			t.Errorf("%s received only %d frames of %s's video across the move", pair[0], n, pair[1])
		}
		if longest > moveBreak {
			t.Errorf("%s's video of %s paused for %s across the move, over %s", pair[0], pair[1], longest.Round(time.Millisecond), moveBreak)
			for _, c := range []*loadtest.Client{ann, bob, ann2, bob2} {
				for key, tc := range c.Received() {
					t.Logf("%s (%s) track %s from %s (%s): %d packets, %d frames, %d keyframes, first %s, last %s, ended %v", c.Self.Identity, c.Self.ID, key, tc.ParticipantID, tc.Kind,
						tc.Packets, tc.Frames, tc.Keyframes, tc.First.Sub(drainStart).Round(time.Millisecond), tc.Last.Sub(drainStart).Round(time.Millisecond), tc.Ended)
				}
			}
			st, _ := nodes[1].SFU().RoomState(room)
			t.Logf("node2's room: %+v", st)
		}
	}
}

// moveBreak is the longest pause in a client's video across a move that
// still counts as make before break: twice loadtest.FreezeGap, since a
// machine as loaded as the test suite's makes pauses of half a second
// with or without a move (42-88 ms is usual), while a client that leaves
// before it rejoins (break before make) loses 1.5 s or more.
const moveBreak = 2 * loadtest.FreezeGap

// moveOrRejoin waits until old is told to move, or to go, and then moves
// make before break as the load harness does (dial, publish, CatchUp,
// MoveLinger, leave the old session), or rejoins after the old session
// ended. It returns the new session and what old was told.
func moveOrRejoin(ctx context.Context, old *loadtest.Client, dial func() (*loadtest.Client, error)) (*loadtest.Client, loadtest.Message, error) {
	told, err := old.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "move" || m.Type == "bye" || m.Type == "close" })
	if err != nil && !errors.Is(err, loadtest.ErrDisconnected) {
		return nil, told, fmt.Errorf("waiting to be told to move: %w", err)
	}
	if told.Type != "move" {
		old.Close() // break before make: gone before the new session
	}
	var next *loadtest.Client
	for deadline := time.Now().Add(20 * time.Second); ; {
		if next, err = dial(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, told, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	if told.Type == "move" {
		if !next.CatchUp(ctx, old) {
			return nil, told, errors.New("the new session did not catch up with the old one")
		}
		time.Sleep(loadtest.MoveLinger)
		old.Leave()
	}
	return next, told, nil
}

// frameLog records when each client received the end of a video frame,
// by sender, so that pauses can be measured across sessions.
type frameLog struct {
	mu     sync.Mutex
	names  map[string]string                 // participant ID -> identity
	frames map[string]map[string][]time.Time // receiver identity -> sender participant ID -> times
}

func newFrameLog() *frameLog {
	return &frameLog{names: map[string]string{}, frames: map[string]map[string][]time.Time{}}
}

// name records that participant id is identity who.
func (l *frameLog) name(id, who string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names[id] = who
}

// observer is a loadtest.Options.Observe for the sessions of who.
func (l *frameLog) observer(who string) func(string, bool, *pionrtp.Packet, time.Time) {
	return func(from string, audio bool, p *pionrtp.Packet, at time.Time) {
		if audio || !p.Marker {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.frames[who] == nil {
			l.frames[who] = map[string][]time.Time{}
		}
		l.frames[who][from] = append(l.frames[who][from], at)
	}
}

// longestPause is the longest time between two frames rx received of
// tx's video since from, on any session of either, when it ended, and
// how many frames that was; the pause to now counts too.
func (l *frameLog) longestPause(rx, tx string, from time.Time) (time.Duration, time.Time, int) {
	l.mu.Lock()
	var times []time.Time
	for id, ts := range l.frames[rx] {
		if l.names[id] == tx {
			times = append(times, ts...)
		}
	}
	l.mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	last, longest, ended, n := from, time.Duration(0), from, 0
	for _, at := range times {
		if at.Before(from) {
			continue
		}
		if at.Sub(last) > longest {
			longest, ended = at.Sub(last), at
		}
		last = at
		n++
	}
	if now := time.Now(); now.Sub(last) > longest {
		longest, ended = now.Sub(last), now
	}
	return longest, ended, n
}

// get fetches url and returns the status and the trimmed body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}
