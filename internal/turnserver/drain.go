package turnserver

import (
	"fmt"
	"sync"
	"time"
)

// activity counts what runs in and under pion's server, so that Close
// can wait for it to end: pion's Close closes the sockets and returns at
// once, while its read loops, the relays they opened and the goroutines
// serving TCP connections wind down on their own.
type activity struct {
	mu      sync.Mutex // guards the counts
	loops   int        // pion read and accept loops still running
	conns   int        // TCP and TLS connections open
	relays  int        // relay sockets open
	readers int        // relay read loops running
	changed chan struct{}
}

func newActivity() *activity { return &activity{changed: make(chan struct{}, 1)} }

// add changes a count by delta (the field chosen by which).
func (a *activity) add(which *int, delta int) {
	a.mu.Lock()
	*which += delta
	a.mu.Unlock()
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

func (a *activity) addLoop(d int)   { a.add(&a.loops, d) }
func (a *activity) addConn(d int)   { a.add(&a.conns, d) }
func (a *activity) addRelay(d int)  { a.add(&a.relays, d) }
func (a *activity) addReader(d int) { a.add(&a.readers, d) }

// Relays is the number of relay sockets open (allocations).
func (a *activity) Relays() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.relays
}

// Conns is the number of TCP and TLS connections open.
func (a *activity) Conns() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conns
}

// wait returns once everything has ended, or an error saying what has
// not after timeout. Once the loops have ended nothing new starts, so
// the other counts only fall.
func (a *activity) wait(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		loops, conns, relays, readers := a.loops, a.conns, a.relays, a.readers
		a.mu.Unlock()
		if loops == 0 && conns == 0 && relays == 0 && readers == 0 {
			return nil
		}
		select {
		case <-a.changed:
		case <-deadline.C:
			return fmt.Errorf("turnserver: close: still running after %s: %d loops, %d connections, %d relays, %d relay readers",
				timeout, loops, conns, relays, readers)
		}
	}
}
