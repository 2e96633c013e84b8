package signaling_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// rosterClients joins n bare clients to room, one after the other, and
// returns them with the ids the server gave them.
func rosterClients(ctx context.Context, t *testing.T, ts *testServer, room string, n int) ([]*rawClient, []string) {
	t.Helper()
	var clients []*rawClient
	var ids []string
	for i := range n {
		r := dialRaw(ctx, t, ts)
		r.send(map[string]any{"type": "join", "version": signaling.Version, "p2p": false, "token": mintFor(t, ts.keys, "test", room, fmt.Sprintf("member-%d", i), time.Now())})
		m := r.next()
		if m.Type != "joined" || m.Self == nil {
			t.Fatalf("member %d: got %s, want joined", i, m.Raw)
		}
		clients = append(clients, r)
		ids = append(ids, m.Self.ID)
	}
	return clients, ids
}

// joinRaw joins a bare observer to room speaking the given protocol
// version.
func joinRaw(ctx context.Context, t *testing.T, ts *testServer, room string, version int) *rawClient {
	t.Helper()
	r := dialRaw(ctx, t, ts)
	r.send(map[string]any{"type": "join", "version": version, "p2p": false, "token": mintFor(t, ts.keys, "test", room, "observer", time.Now())})
	if m := r.next(); m.Type != "joined" || m.Raw == nil {
		t.Fatalf("got %s, want joined", m.Raw)
	}
	return r
}

// A version 2 client hears of joins and departures in participants
// messages, several changes to a message, each change once.
func TestRosterBatched(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	observer := joinRaw(ctx, t, ts, "roster", 2)
	const n = 12
	members, ids := rosterClients(ctx, t, ts, "roster", n)

	joined, messages := map[string]int{}, 0
	for len(joined) < n {
		m := observer.next()
		if m.Type != "participants" {
			t.Fatalf("got %s, want participants", m.Raw)
		}
		messages++
		if len(m.Left) > 0 {
			t.Fatalf("participants message %s says someone left", m.Raw)
		}
		for _, p := range m.Joined {
			joined[p.ID]++
			if !slices.Contains(ids, p.ID) || p.Identity == "" {
				t.Fatalf("participants message %s names someone who did not join", m.Raw)
			}
		}
	}
	for id, k := range joined {
		if k != 1 {
			t.Errorf("%s announced %d times", id, k)
		}
	}
	t.Logf("%d joins in %d participants messages", n, messages)
	if messages >= n {
		t.Errorf("%d joins took %d messages: not batched", n, messages)
	}

	for _, r := range members {
		_ = r.ws.Close()
	}
	left, messages := map[string]bool{}, 0
	for len(left) < n {
		m := observer.next()
		if m.Type != "participants" || len(m.Joined) > 0 {
			t.Fatalf("got %s, want participants with departures only", m.Raw)
		}
		messages++
		for _, id := range m.Left {
			if left[id] || !slices.Contains(ids, id) {
				t.Fatalf("participants message %s: %s left twice or never joined", m.Raw, id)
			}
			left[id] = true
		}
	}
	t.Logf("%d departures in %d participants messages", n, messages)
	if messages >= n {
		t.Errorf("%d departures took %d messages: not batched", n, messages)
	}
	// Nothing else was held back: a pong comes after everything before it.
	observer.wantPong()
}

// A version 1 client, or one that names no version, hears of each join and
// departure in a message of its own.
func TestRosterVersion1(t *testing.T) {
	for _, version := range []int{1, 0} {
		t.Run(fmt.Sprint("version ", version), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ts := newTestServer(t, nil)
			observer := joinRaw(ctx, t, ts, "roster-v1", version)
			const n = 4
			members, ids := rosterClients(ctx, t, ts, "roster-v1", n)
			// Joins made one after the other may be told in another order:
			// each is announced by its own goroutine.
			joined := map[string]bool{}
			for range ids {
				m := observer.next()
				if m.Type != "participant_joined" || m.Participant == nil || !slices.Contains(ids, m.Participant.ID) || joined[m.Participant.ID] {
					t.Fatalf("got %s, want participant_joined of one of %v, each once", m.Raw, ids)
				}
				joined[m.Participant.ID] = true
			}
			for i, r := range members {
				_ = r.ws.Close()
				m := observer.next()
				if m.Type != "participant_left" || m.ParticipantID != ids[i] {
					t.Fatalf("got %s, want participant_left of %s", m.Raw, ids[i])
				}
			}
		})
	}
}

// A participant is announced before its tracks, even when its join is held
// for the next participants message.
func TestRosterBeforeTracks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a := ts.join(ctx, "roster-order")
	// A join just before b's: b's is then held for the interval, and b
	// publishes within it.
	rosterClients(ctx, t, ts, "roster-order", 1)
	b := ts.join(ctx, "roster-order")
	if err := b.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "track_published" && m.ParticipantID == b.Self.ID
	}); err != nil {
		t.Fatal(err)
	}
	announced := false
	for _, m := range a.Messages() {
		if _, ok := m.Joins(b.Self.Identity); ok {
			announced = true
		}
		if m.Type == "track_published" && m.ParticipantID == b.Self.ID && !announced {
			t.Fatalf("track_published of %s came before its join was announced", b.Self.ID)
		}
	}
	receivesFrom(t, a, b.Self.ID, 5)
}
