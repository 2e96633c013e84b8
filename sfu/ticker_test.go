package sfu

import "time"

// fakeClock is a clock and the tickers on it, moved by hand.
type fakeClock struct {
	now     time.Time
	tickers []*fakeTicker
}

// fakeTicker ticks when its clock passes its next tick; like a
// time.Ticker, it holds one tick and drops those not taken.
type fakeTicker struct {
	c       chan time.Time
	every   time.Duration
	next    time.Time
	stopped bool
}

func (f *fakeTicker) Chan() <-chan time.Time { return f.c }
func (f *fakeTicker) Stop()                  { f.stopped = true }

// newTicker is the clock's newTickerFunc.
func (c *fakeClock) newTicker(d time.Duration) ticker {
	t := &fakeTicker{c: make(chan time.Time, 1), every: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	return t
}

// advance moves the clock on by d and fires the tickers due.
func (c *fakeClock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	live := c.tickers[:0]
	for _, t := range c.tickers {
		if t.stopped {
			continue
		}
		live = append(live, t)
		for ; !t.next.After(c.now); t.next = t.next.Add(t.every) {
			select {
			case t.c <- t.next:
			default:
			}
		}
	}
	c.tickers = live
}
