package sfu

import (
	"testing"
	"time"
)

// TestBandwidthControlChargesData: data written to a subscriber is
// charged against its video, at most half the video budget: on a link
// of 1 Mbit/s, a megabit of data takes the video down to what fits
// half the estimate, never to nothing; lossy data is paced to the room
// left beside the media.
func TestBandwidthControlChargesData(t *testing.T) {
	const narrowAt = 4 * time.Second
	s := newBWSim(t, func(at time.Duration) int64 {
		if at >= narrowAt {
			return 1_000_000
		}
		return 5_000_000
	})
	var d dataPeer
	s.bw.data = &d
	s.run(narrowAt+8*time.Second, nil)
	est, before := s.estimate(), layersCost(s.current())
	if before == 0 || est > 3_000_000 {
		t.Fatalf("after the narrowing: estimate %d, layers %v", est, s.current())
	}
	if room := (est - before) / 8; !d.congested.Load() && (d.lossy.rate.Load() <= 0 || d.lossy.rate.Load() > room) {
		t.Errorf("lossy paced to %d bytes/s beside %d bits/s of media on an estimate of %d", d.lossy.rate.Load(), before, est)
	}
	const dataRate = 1_000_000 // bits/s
	s.run(3*time.Second, func() bool {
		d.sent.Add(dataRate / 8 / 1000) // a millisecond's worth
		return false
	})
	est = s.estimate()
	after := layersCost(s.current())
	t.Logf("estimate %d: video %d bits/s before the data, %d (%v) with a megabit of data", est, before, after, s.current())
	if after >= before || after > est/2+simBitrates[0] {
		t.Errorf("with %d bits/s of data on an estimate of %d: layers %v (%d bits/s), %d before", dataRate, est, s.current(), after, before)
	}
	if after == 0 {
		t.Errorf("the data paused the video: half the budget stays for it")
	}
	if !d.congested.Load() && d.lossy.rate.Load() > (est-after)/8 {
		t.Errorf("lossy paced to %d bytes/s beside %d bits/s of media on an estimate of %d", d.lossy.rate.Load(), after, est)
	}
}
