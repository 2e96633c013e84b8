package signaling_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// TestMeasureData measures application data through the SFU between Go
// clients on loopback: the reliable throughput from one client to
// another, and the messages a second one sender delivers to ten. It
// asserts nothing of the figures, which it logs.
func TestMeasureData(t *testing.T) {
	if os.Getenv("SFU_MEASURE_DATA") == "" {
		t.Skip("a measurement: set SFU_MEASURE_DATA=1 to run it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ts := newTestServerMedia(t, func(c *sfu.Config) {
		c.Data.BytesPerSecond, c.Data.ByteBurst = 1<<30, 1<<30
		c.Data.MessagesPerSecond, c.Data.MessageBurst = 1e6, 1e6
	}, nil)

	// Reliable throughput, one to one: 16 KiB messages, the sender
	// keeping at most 512 KiB in flight to the receiver end to end.
	a := dataClient(ctx, t, ts, "measure-1", dataGrants)
	b := dataClient(ctx, t, ts, "measure-1", dataGrants)
	readyData(ctx, t, a, false, b)
	const size, window = 16 << 10, 32
	payload := make([]byte, size)
	run := func(d time.Duration) (int64, time.Duration) {
		start := time.Now()
		base := b.DataCounts().ReceivedBytes
		var sent int64
		for time.Since(start) < d {
			for sent-(b.DataCounts().ReceivedBytes-base) >= window*size {
				time.Sleep(100 * time.Microsecond)
			}
			if err := a.SendData("bulk", []string{b.Self.ID}, payload, false); err != nil {
				t.Fatal(err)
			}
			sent += size
		}
		for b.DataCounts().ReceivedBytes-base < sent && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		return sent, time.Since(start)
	}
	run(time.Second) // warm up
	sent, took := run(5 * time.Second)
	t.Logf("reliable, one to one, 16 KiB messages: %.1f MB/s (%d MB in %v)", float64(sent)/took.Seconds()/1e6, sent>>20, took.Round(time.Millisecond))

	// One to ten: 1 KiB messages, paced by the slowest receiver.
	const fan = 10
	src := dataClient(ctx, t, ts, "measure-10", dataGrants)
	var rx []*loadtest.Client
	for range fan {
		rx = append(rx, dataClient(ctx, t, ts, "measure-10", dataGrants))
	}
	readyData(ctx, t, src, false, rx...)
	small := make([]byte, 1024)
	slowest := func() int64 {
		m := int64(1 << 62)
		for _, c := range rx {
			m = min(m, c.DataCounts().Received)
		}
		return m
	}
	base := slowest()
	start := time.Now()
	var n int64
	for time.Since(start) < 5*time.Second {
		for n-(slowest()-base) >= 200 {
			time.Sleep(100 * time.Microsecond)
		}
		if err := src.SendData("fan", nil, small, false); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for slowest()-base < n && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	took = time.Since(start)
	t.Logf("reliable, one to %d, 1 KiB messages: %.0f messages/s sent, %.0f delivered/s", fan, float64(n)/took.Seconds(), float64(n*fan)/took.Seconds())
}
