package sfu_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfu-project/sfu/sfu"
)

// TestRoomHooksFollowClients opens and closes rooms with real clients: a
// room opens with its first client, stays open while one is left, closes
// with the last, and the rooms left open close with the SFU.
func TestRoomHooksFollowClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log roomLog
	n := newTestNode(t, log.options())
	want := func(events ...string) {
		t.Helper()
		if got := log.get(); !slices.Equal(got, events) {
			t.Fatalf("room hooks called %q, want %q", got, events)
		}
	}

	// The hook is called before the joiner hears joined.
	a1 := n.join(ctx, "a")
	want("+a")
	a2 := n.join(ctx, "a")
	b := n.join(ctx, "b")
	want("+a", "+b")

	a1.Leave()
	eventually(t, 10*time.Second, "a1's departure", func() bool { return n.sfu.Load().Participants == 2 })
	want("+a", "+b")
	a2.Close() // abruptly: the server notices the socket closed
	eventually(t, 10*time.Second, "room a closed", func() bool { return len(log.get()) == 3 })
	want("+a", "+b", "-a")

	// Close calls the hooks of the rooms it closes before it returns.
	if err := n.sfu.Close(); err != nil {
		t.Fatal(err)
	}
	want("+a", "+b", "-a", "-b")
	b.Close()
}

// TestRoomHooksOrderedWhenRoomReopens closes a room and opens it again
// while the closed hook is still running: the new room's opened hook waits
// for it, and the Join that opened the room does not.
func TestRoomHooksOrderedWhenRoomReopens(t *testing.T) {
	var log roomLog
	var s *sfu.SFU
	inClosed, release := make(chan struct{}), make(chan struct{})
	var first, released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	defer unblock() // a failure must not leave the hook blocked, and Close waiting for it
	s = newSFU(t, sfu.Options{
		RoomOpened: func(name string) {
			s.Load() // would deadlock if a lock of the SFU or a room were held
			log.add("+" + name)
		},
		RoomClosed: func(name string) {
			s.Load()
			first.Do(func() {
				close(inClosed)
				<-release
			})
			log.add("-" + name)
		},
	})

	p1, err := s.Join("r", who(), nullSink{})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		p1.Close()
	}()
	<-inClosed // room r is gone; its closed hook is running

	p2, err := s.Join("r", who(), nullSink{})
	if err != nil {
		t.Fatal(err)
	}
	if got := log.get(); !slices.Equal(got, []string{"+r"}) {
		t.Fatalf("with the old room's closed hook running, the hooks were called %q, want only [+r]", got)
	}
	if l := s.Load(); l.Rooms != 1 || l.Participants != 1 {
		t.Fatalf("load %+v, want the new room with its participant", l)
	}
	unblock()
	<-closed // the goroutine delivering calls the new room's hook before it returns
	if got, want := log.get(), []string{"+r", "-r", "+r"}; !slices.Equal(got, want) {
		t.Fatalf("room hooks called %q, want %q", got, want)
	}
	p2.Close()
	if got, want := log.get(), []string{"+r", "-r", "+r", "-r"}; !slices.Equal(got, want) {
		t.Fatalf("room hooks called %q, want %q", got, want)
	}
}

// TestRoomHooksMayJoin joins another room from a hook: the hook's own
// room event is delivered after it returns, before the outer Join does.
func TestRoomHooksMayJoin(t *testing.T) {
	var log roomLog
	var s *sfu.SFU
	var inner *sfu.Participant
	s = newSFU(t, sfu.Options{
		RoomOpened: func(name string) {
			log.add("+" + name)
			if name == "outer" {
				p, err := s.Join("inner", who(), nullSink{})
				if err != nil {
					t.Error(err)
					return
				}
				inner = p
				log.add("joined inner")
			}
		},
		RoomClosed: func(name string) { log.add("-" + name) },
	})
	outer, err := s.Join("outer", who(), nullSink{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := log.get(), []string{"+outer", "joined inner", "+inner"}; !slices.Equal(got, want) {
		t.Fatalf("room hooks called %q, want %q", got, want)
	}
	outer.Close()
	if inner != nil {
		inner.Close()
	}
	if got, want := log.get(), []string{"+outer", "joined inner", "+inner", "-outer", "-inner"}; !slices.Equal(got, want) {
		t.Fatalf("room hooks called %q, want %q", got, want)
	}
}

// TestRoomHooksUnderChurn joins and leaves one room from several
// goroutines at once, so that the room is removed and created again
// while other joins and departures race with it: the hooks are never
// called at the same time, and they alternate opened and closed.
func TestRoomHooksUnderChurn(t *testing.T) {
	var log roomLog
	var running, overlaps atomic.Int32
	hook := func(ev string) func(string) {
		return func(name string) {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			log.add(ev + name)
			running.Add(-1)
		}
	}
	s := newSFU(t, sfu.Options{RoomOpened: hook("+"), RoomClosed: hook("-")})

	const workers, rounds = 4, 12
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				p, err := s.Join("churn", who(), nullSink{})
				if err != nil {
					t.Error(err)
					return
				}
				p.Close()
			}
		}()
	}
	wg.Wait()

	if n := overlaps.Load(); n != 0 {
		t.Errorf("hooks ran at the same time %d times", n)
	}
	events := log.get()
	if len(events) == 0 || len(events)%2 != 0 {
		t.Fatalf("%d hook calls, want an even number, at least 2: %q", len(events), events)
	}
	for i, ev := range events {
		if want := []string{"+churn", "-churn"}[i%2]; ev != want {
			t.Fatalf("hook call %d is %q, want %q: %q", i, ev, want, events)
		}
	}
	if l := s.Load(); l.Rooms != 0 || l.Participants != 0 {
		t.Fatalf("load %+v after everybody left, want no room or participant", l)
	}
	t.Logf("%d joins opened the room %d times", workers*rounds, len(events)/2)
}
