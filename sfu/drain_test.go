package sfu_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// idle reports whether s's Idle channel is closed, without waiting.
func idle(s *sfu.SFU) bool {
	select {
	case <-s.Idle():
		return true
	default:
		return false
	}
}

// TestDrainKeepsParticipantsUntilTheyLeave drains a node with a publisher
// and a subscriber: nobody new gets in, media keeps flowing to those
// there, and the node is idle once they have left and their room closed.
func TestDrainKeepsParticipantsUntilTheyLeave(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log roomLog
	n := newTestNode(t, log.options())
	pub := n.join(ctx, "drain")
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	sub := n.join(ctx, "drain")
	eventually(t, 15*time.Second, "media from the publisher", func() bool {
		tracks, packets, _ := receivedFrom(sub, pub.Self.ID)
		return tracks == 2 && packets > 50
	})
	if idle(n.sfu) {
		t.Fatal("idle before draining")
	}

	n.sfu.Drain()
	n.sfu.Drain() // idempotent
	for _, room := range []string{"drain", "elsewhere"} {
		if _, err := n.sfu.Join(room, who(), nullSink{}); !errors.Is(err, sfu.ErrDraining) {
			t.Fatalf("Join(%s) while draining: %v, want ErrDraining", room, err)
		}
	}
	if c, err := n.dial(ctx, "drain"); !errors.Is(err, loadtest.ErrServer) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a client joining a draining node: %v, want a server error", err)
	}

	_, before, _ := receivedFrom(sub, pub.Self.ID)
	eventually(t, 10*time.Second, "media still flowing after Drain", func() bool {
		_, now, _ := receivedFrom(sub, pub.Self.ID)
		return now > before+50
	})
	if l := n.sfu.Load(); l.Participants != 2 || idle(n.sfu) {
		t.Fatalf("load %+v, idle %v while two participants remain", l, idle(n.sfu))
	}

	pub.Leave()
	eventually(t, 10*time.Second, "the publisher's departure", func() bool { return n.sfu.Load().Participants == 1 })
	if idle(n.sfu) {
		t.Fatal("idle with a participant left")
	}
	sub.Close() // abruptly
	select {
	case <-n.sfu.Idle():
	case <-ctx.Done():
		t.Fatalf("not idle after everybody left: %+v", n.sfu.Load())
	}
	// The room's hook has returned by the time the node is idle.
	if got, want := log.get(), []string{"+drain", "-drain"}; !slices.Equal(got, want) {
		t.Fatalf("room hooks called %q, want %q", got, want)
	}
	if _, err := n.sfu.Join("drain", who(), nullSink{}); !errors.Is(err, sfu.ErrDraining) {
		t.Fatalf("Join when idle: %v, want ErrDraining", err)
	}
}

// TestIdle: an SFU is idle only once draining or closed with nobody left,
// which it reports as soon as the last participant's Close returns.
func TestIdle(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		s := newSFU(t, sfu.Options{})
		if idle(s) {
			t.Fatal("idle before draining")
		}
		s.Drain()
		if !idle(s) {
			t.Fatal("an empty SFU that drains is not idle")
		}
	})
	t.Run("drain", func(t *testing.T) {
		s := newSFU(t, sfu.Options{})
		a, err := s.Join("r", who(), nullSink{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Join("r", who(), nullSink{})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		if idle(s) {
			t.Fatal("idle without draining")
		}
		s.Drain()
		if idle(s) {
			t.Fatal("idle with a participant")
		}
		b.Close()
		if !idle(s) {
			t.Fatal("not idle once the last participant's Close returned")
		}
	})
	t.Run("close", func(t *testing.T) {
		s := newSFU(t, sfu.Options{})
		if _, err := s.Join("r", who(), nullSink{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !idle(s) {
			t.Fatal("not idle once Close returned")
		}
		if _, err := s.Join("r", who(), nullSink{}); !errors.Is(err, sfu.ErrClosed) {
			t.Fatalf("Join after Close: %v, want ErrClosed", err)
		}
	})
}
