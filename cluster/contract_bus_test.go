package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// probe is what awaitReceiving sends until the receiver has one; the
// tests' own messages never look like it.
const probe = "probe"

// receiving is a Receive running in the background.
type receiving struct {
	msgs   chan string
	done   chan error
	cancel context.CancelFunc
}

// receive starts Receive for node on s; the test's end stops it and checks
// that it returned the context's error.
func receive(t *testing.T, s Bus, node string) *receiving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &receiving{msgs: make(chan string, 10000), done: make(chan error, 1), cancel: cancel}
	go func() {
		r.done <- s.Receive(ctx, node, func(msg []byte) { r.msgs <- string(msg) })
	}()
	t.Cleanup(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Receive(%s) returned %v, want context.Canceled", node, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Receive(%s) still running 10 s after its context ended", node)
		}
	})
	return r
}

// awaitReceiving sends probes from s to node until one arrives: a message
// sent before Receive started may be lost, one sent after may not.
func awaitReceiving(t *testing.T, s Bus, node string, r *receiving) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		must(t, s.Send(ctx, node, []byte(probe)))
		select {
		case m := <-r.msgs:
			if m == probe {
				return
			}
			t.Fatalf("unexpected message %q", m)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no probe reached %s in 10 s", node)
}

// next returns the next message that is not a probe.
func (r *receiving) next(t *testing.T) string {
	t.Helper()
	for {
		select {
		case m := <-r.msgs:
			if m != probe {
				return m
			}
		case err := <-r.done:
			t.Fatalf("Receive returned early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no message in 10 s")
		}
	}
}

func testBusOrder(t *testing.T, f *fixture) {
	a, b := f.node(1), f.node(2)
	r := receive(t, b, "b")
	other := receive(t, f.node(3), "c")
	awaitReceiving(t, a, "b", r)
	must(t, a.Send(ctx, "nobody-listens", []byte("lost")))
	const n = 1000
	for i := range n {
		must(t, a.Send(ctx, "b", []byte(strconv.Itoa(i))))
	}
	for i := range n {
		if m := r.next(t); m != strconv.Itoa(i) {
			t.Fatalf("message %d is %q", i, m)
		}
	}
	// The payload is carried as is: empty, binary, large.
	for _, msg := range []string{"", "\x00\xff\r\n", strings.Repeat("x", 256<<10)} {
		must(t, a.Send(ctx, "b", []byte(msg)))
		if m := r.next(t); m != msg {
			t.Fatalf("sent %d bytes, received %d", len(msg), len(m))
		}
	}
	select {
	case m := <-other.msgs:
		t.Fatalf("c received %q, sent to b", m)
	default:
	}
}

// testBusSenders has two nodes send to a third at once: each sender's
// messages arrive in its order.
func testBusSenders(t *testing.T, f *fixture) {
	r := receive(t, f.node(0), "hub")
	awaitReceiving(t, f.node(1), "hub", r)
	awaitReceiving(t, f.node(2), "hub", r)
	const n = 200
	errs := make(chan error, 2)
	for s := 1; s <= 2; s++ {
		go func() {
			for i := range n {
				if err := f.node(s).Send(ctx, "hub", fmt.Appendf(nil, "%d:%d", s, i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		must(t, <-errs)
	}
	nextOf := map[string]int{}
	for range 2 * n {
		m := r.next(t)
		sender, seq, _ := strings.Cut(m, ":")
		if want := strconv.Itoa(nextOf[sender]); seq != want {
			t.Fatalf("from sender %s got %s, want %s", sender, seq, want)
		}
		nextOf[sender]++
	}
}

// testBusRestart loses the shared state while a node receives: sending
// fails with ErrUnavailable, and once the state is back Receive, which
// never returned, delivers what is sent in order.
func testBusRestart(t *testing.T, f *fixture) {
	if f.stop == nil {
		t.Skip("this fixture cannot stop its shared state")
	}
	a, b := f.node(1), f.node(2)
	r := receive(t, b, "b")
	awaitReceiving(t, a, "b", r)
	must(t, a.Send(ctx, "b", []byte("before")))
	if m := r.next(t); m != "before" {
		t.Fatalf("got %q", m)
	}
	f.stop()
	err := a.Send(ctx, "b", []byte("during"))
	errorsIs(t, "Send while the state is down", err, ErrUnavailable)
	_, err = a.Host(ctx, "room")
	errorsIs(t, "Host while the state is down", err, ErrUnavailable)
	time.Sleep(300 * time.Millisecond) // Receive meets the outage and backs off
	f.start()
	const n = 100
	for i := range n {
		msg := []byte("after-" + strconv.Itoa(i))
		// The first calls may still meet connections from before.
		for try := 0; ; try++ {
			err := a.Send(ctx, "b", msg)
			if err == nil {
				break
			}
			errorsIs(t, "Send after the restart", err, ErrUnavailable)
			if try == 20 {
				t.Fatalf("Send still failing after the restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range n {
		if m := r.next(t); m != "after-"+strconv.Itoa(i) {
			t.Fatalf("after the restart message %d is %q", i, m)
		}
	}
}
