package sfu

import "time"

// Application data sent to a subscriber shares its link with its media.
// Bandwidth control charges the rate of the data written to it against
// its video budget, never its audio, and at most half of it, so that a
// file transfer lowers the video a step rather than pausing it; and it
// marks the link congested when the estimate leaves no room for more
// than the media chosen, which drops the lossy data first (data.go).

// chargeData returns the bits/s of application data written to the
// subscriber since the last allocation, at most half of budget (the
// estimate less the audio).
func (b *bandwidthControl) chargeData(now time.Time, budget int64) int64 {
	if b.data == nil {
		return 0
	}
	sent := b.data.sent.Load()
	bytes, dt := sent-b.dataSent, now.Sub(b.dataAt)
	b.dataSent = sent
	first := b.dataAt.IsZero()
	b.dataAt = now
	if first || dt <= 0 || bytes <= 0 {
		return 0
	}
	rate := int64(float64(bytes*8) / dt.Seconds())
	return max(min(rate, budget/2), 0)
}

// markCongested records whether the subscriber's link has room for lossy
// data beside sending, the bits/s of the media chosen for it.
func (b *bandwidthControl) markCongested(known bool, estimate, sending int64) {
	if b.data != nil {
		b.data.congested.Store(known && sending >= estimate)
	}
}
