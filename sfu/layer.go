package sfu

import (
	"sync/atomic"
	"time"

	"github.com/sfu-project/sfu/rtp"
)

// MaxLayers is the number of simulcast layers an UpTrack can carry.
const MaxLayers = 3

// layer is one simulcast encoding of an UpTrack (the only one when the
// publisher does not simulcast): its own SSRC, packet cache, statistics and
// keyframe throttle.
type layer struct {
	index     int
	rid       string
	ssrc      uint32
	cache     *rtp.PacketCache
	stats     rtp.ReceiveStats
	keyframes *rtp.KeyframeThrottle

	// paused is set while the publisher has been told not to send this
	// layer (dynacast): the allocator may still choose it, at its last
	// bitrate, and choosing it makes the publisher resume it.
	paused atomic.Bool
	// resumedAt is when the publisher was told to send it again (unix
	// nanoseconds): until its packets flow, it still counts at its last
	// bitrate.
	resumedAt atomic.Int64

	// keyframeAt is when the newest keyframe began (unix nanoseconds),
	// 0 before the first. Written by the layer's reader goroutine.
	keyframeAt atomic.Int64

	// Written by the layer's reader goroutine, read by the allocator.
	lastPacket atomic.Int64 // unix nanoseconds of the newest packet
	bitrate    atomic.Int64 // bits per second, smoothed
	windowAt   int64        // reader only: start of the current rate window
	windowBits int64        // reader only
}

// layerIndex maps a RID to a layer: "q", "h", "f" (quarter, half, full
// resolution, as browsers and LiveKit name them) or "0", "1", "2". An
// empty RID is a publisher that does not simulcast.
func layerIndex(rid string) (int, bool) {
	switch rid {
	case "", "q", "0", "l":
		return 0, true
	case "h", "1", "m":
		return 1, true
	case "f", "2":
		return 2, true
	}
	return 0, false
}

// rateWindow is how often a layer's bitrate is updated.
const rateWindow = 500 * time.Millisecond

// account records a packet of n bytes arriving at now (unix nanoseconds).
func (l *layer) account(n int, now int64) {
	l.lastPacket.Store(now)
	l.windowBits += int64(n) * 8
	if l.windowAt == 0 {
		l.windowAt = now
		return
	}
	if elapsed := now - l.windowAt; elapsed >= int64(rateWindow) {
		rate := l.windowBits * int64(time.Second) / elapsed
		if old := l.bitrate.Load(); old != 0 {
			rate = (old + rate) / 2
		}
		l.bitrate.Store(rate)
		l.windowAt, l.windowBits = now, 0
	}
}

// active reports whether the layer has sent a packet recently: publishers
// stop sending layers their own estimator cannot afford.
// resumeGrace is how long a resumed layer may take to arrive before the
// allocator stops counting on it: a browser re-enabling an encoding sends
// its first keyframe within about a second.
const resumeGrace = 3 * time.Second

// resuming reports whether the layer was resumed but has not arrived yet.
func (l *layer) resuming(now time.Time) bool {
	return now.UnixNano()-l.resumedAt.Load() < int64(resumeGrace)
}

func (l *layer) active(now time.Time) bool {
	return now.UnixNano()-l.lastPacket.Load() < int64(time.Second)
}
