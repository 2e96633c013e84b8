package sfu

import "time"

// ticker is a time.Ticker as the logic it paces sees it: made by a
// factory its owner injects, so that a test ticks it by hand instead of
// waiting for real time.
type ticker interface {
	// Chan delivers the ticks, as a time.Ticker's C does.
	Chan() <-chan time.Time
	// Stop stops the ticks.
	Stop()
}

// newTickerFunc makes a ticker that ticks every d.
type newTickerFunc func(d time.Duration) ticker

// realTicker is a time.Ticker.
type realTicker struct{ t *time.Ticker }

func (r realTicker) Chan() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()                  { r.t.Stop() }

// newRealTicker is the newTickerFunc of real time.
func newRealTicker(d time.Duration) ticker { return realTicker{time.NewTicker(d)} }
