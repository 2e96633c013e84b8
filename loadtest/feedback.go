package loadtest

import (
	"slices"
	"sync"
	"time"
)

// The harness sends the RTCP feedback of all its subscriber connections
// from one goroutine on one clock, as a browser sends all of its own from
// one thread: NACKs every nackInterval, transport-wide congestion control
// feedback every twccFeedbackInterval and receiver reports every
// reportInterval, each receiver on its own phase. A timer per connection
// and per kind (pion's NACK generator and receiver report interceptors,
// and a TWCC loop) woke about 25,000 goroutines a second at 200
// subscribers and cost about 1.5 µs per received packet.
const (
	// nackInterval is how often missing packets are asked for again, up
	// to maxNacks times each (pion's NACK generator's timing).
	nackInterval = 20 * time.Millisecond
	// twccFeedbackInterval is how often a receiver reports arrivals, as
	// browsers do (every 50-100 ms).
	twccFeedbackInterval = 100 * time.Millisecond
	// reportInterval is how often a receiver sends receiver reports.
	reportInterval = time.Second
)

// maxNacks is how many times a missing packet is asked for before it is
// given up: like a browser, and unlike asking as long as it stays in a
// window, it stops, so above capacity NACKs do not add to the load.
const maxNacks = 10

// feedbackClock ticks while at least one receiver is registered.
type feedbackClock struct {
	mu      sync.Mutex
	members []*receiver
	stop    chan struct{} // closes to stop the running loop
	done    chan struct{} // closed when it has stopped
}

// clock is the harness's one feedback clock.
var clock feedbackClock

// join adds r; the clock starts with its first member.
func (fc *feedbackClock) join(r *receiver) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.members = append(fc.members, r)
	if len(fc.members) == 1 {
		fc.stop, fc.done = make(chan struct{}), make(chan struct{})
		go fc.run(fc.stop, fc.done)
	}
}

// leave removes r; with the last member it stops the clock and waits for
// it to stop. r may be ticked once more while leave runs.
func (fc *feedbackClock) leave(r *receiver) {
	fc.mu.Lock()
	i := slices.Index(fc.members, r)
	if i < 0 {
		fc.mu.Unlock()
		return
	}
	fc.members = slices.Delete(fc.members, i, i+1)
	var done chan struct{}
	if len(fc.members) == 0 {
		close(fc.stop)
		done = fc.done
	}
	fc.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (fc *feedbackClock) run(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(nackInterval)
	defer tick.Stop()
	var members []*receiver
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			fc.mu.Lock()
			members = append(members[:0], fc.members...)
			fc.mu.Unlock()
			for _, r := range members {
				r.sendFeedback(now)
			}
			clear(members)
		}
	}
}
