package loadtest

import (
	"strings"
	"testing"
	"time"
)

// TestRunMoves: the node tells every participant to move (as a draining
// node of a cluster does); each opens a session on the run's next URL,
// publishes again if it published, and leaves the old session once the
// new one has media, so none loses its connection. The report counts
// the moves apart from the reconnections and measures the pauses. The
// two nodes here share no room: a subscriber's new session catches up
// once the publisher has moved too, and it keeps the old one until then.
func TestRunMoves(t *testing.T) {
	checkNoLeaks(t)
	a := startTestNode(t, "127.0.0.1:0")
	b := startTestNode(t, "127.0.0.2:0")
	cfg := RunConfig{
		URLs: []string{a.wsURL(), b.wsURL()}, Rooms: 1, Publishers: 1, Subscribers: 2, Duration: 16 * time.Second,
		LoopbackOnly: true, RoomPrefix: "moving", Token: a.mint, // the nodes share one key
	}
	rep := runWithBreak(t, cfg, 3, func() { a.sig.Move(10 * time.Second) })
	m := rep.Moves
	t.Logf("moves: %+v", m)
	if m.Moves != 3 || m.Participants != 3 || m.Failed != 0 || m.Attempts != 3 {
		t.Errorf("%d moves by %d participants, %d failed, %d attempts; want each of the 3 moved once", m.Moves, m.Participants, m.Failed, m.Attempts)
	}
	if m.Gaps != 2 || m.Unresumed != 0 {
		t.Errorf("%d pauses measured, %d unresumed; want one per subscriber, resumed", m.Gaps, m.Unresumed)
	}
	if rc := rep.Reconnects; rc.Participants != 0 || len(rc.Disconnects) != 0 {
		t.Errorf("reconnections %+v: a move loses no connection", rc)
	}
	if got := a.media.RoomCount(); got != 0 {
		t.Errorf("the node that asked them to move holds %d rooms: the old sessions did not leave", got)
	}
	if rep.TracksReceived != rep.TracksExpected {
		t.Errorf("tracks %d of %d at the end", rep.TracksReceived, rep.TracksExpected)
	}
	for _, f := range rep.Failures {
		if strings.HasPrefix(f, "tracks") || strings.HasPrefix(f, "move") || strings.HasPrefix(f, "reconnect") {
			t.Errorf("failure %q", f)
		}
	}
}
