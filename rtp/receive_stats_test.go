package rtp

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestReceiveStats(t *testing.T) {
	const base = 1 << 16
	t0 := time.Unix(1_700_000_000, 0)
	type packet struct {
		ext     uint64
		ts      uint32
		arrival time.Duration // after t0
	}
	// every20ms returns n Opus packets, 20 ms and 960 ticks apart, from ext.
	every20ms := func(ext uint64, n int) []packet {
		ps := make([]packet, n)
		for i := range ps {
			ps[i] = packet{ext + uint64(i), uint32(i) * 960, time.Duration(i) * 20 * time.Millisecond}
		}
		return ps
	}
	tests := []struct {
		name      string
		clockRate uint32
		packets   []packet
		want      StatsSnapshot
	}{
		{"empty", 48000, nil, StatsSnapshot{}},
		{"one packet", 48000, []packet{{base, 0, 0}}, StatsSnapshot{Received: 1, Expected: 1}},
		{"steady stream has no loss or jitter", 48000, every20ms(base, 50), StatsSnapshot{Received: 50, Expected: 50}},
		{"two lost", 48000, []packet{
			{base, 0, 0}, {base + 1, 960, 20 * time.Millisecond},
			{base + 4, 3840, 80 * time.Millisecond}, {base + 5, 4800, 100 * time.Millisecond},
		}, StatsSnapshot{Received: 4, Expected: 6, Lost: 2}},
		{"duplicate makes loss negative", 48000, []packet{
			{base, 0, 0}, {base + 1, 960, 20 * time.Millisecond}, {base + 1, 960, 20 * time.Millisecond},
		}, StatsSnapshot{Received: 3, Expected: 2, Lost: -1}},
		{"late packet before first extends expected", 48000, []packet{
			{base + 10, 9600, 0}, {base + 11, 10560, 20 * time.Millisecond}, {base + 8, 7680, 20 * time.Millisecond},
		}, StatsSnapshot{Received: 3, Expected: 4, Lost: 1,
			// D = 0.02-0.02 = 0, then D = 0 - (-0.06) = 0.06: J = 0.06/16.
			Jitter: 0.00375}},
		{"one packet 10ms late", 48000, []packet{
			{base, 0, 0},
			{base + 1, 960, 30 * time.Millisecond},  // D = 0.030 - 0.020 = 0.010, J = 0.010/16
			{base + 2, 1920, 40 * time.Millisecond}, // D = 0.010 - 0.020 = -0.010, J += (0.010 - J)/16
		}, StatsSnapshot{Received: 3, Expected: 3, Jitter: 0.000625 + (0.01-0.000625)/16}},
		{"video clock", 90000, []packet{
			{base, 0, 0},
			{base + 1, 3000, 43333333 * time.Nanosecond}, // D = 0.043333333 - 3000/90000 = 0.01
		}, StatsSnapshot{Received: 2, Expected: 2, Jitter: 0.01 / 16}},
		{"timestamp wrap", 48000, []packet{
			{base, math.MaxUint32 - 479, 0},
			{base + 1, 480, 30 * time.Millisecond}, // 960 ticks across the wrap, D = 0.010
		}, StatsSnapshot{Received: 2, Expected: 2, Jitter: 0.01 / 16}},
		{"sequence wrap", 48000, every20ms(2*base-2, 4), StatsSnapshot{Received: 4, Expected: 4}},
		{"zero clock rate skips jitter", 0, []packet{
			{base, 0, 0}, {base + 1, 960, 500 * time.Millisecond},
		}, StatsSnapshot{Received: 2, Expected: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s ReceiveStats
			for _, p := range tt.packets {
				s.Update(p.ext, p.ts, t0.Add(p.arrival), tt.clockRate)
			}
			got := s.Snapshot()
			if got.Received != tt.want.Received || got.Expected != tt.want.Expected || got.Lost != tt.want.Lost {
				t.Fatalf("Snapshot() = %+v, want %+v", got, tt.want)
			}
			if math.Abs(got.Jitter-tt.want.Jitter) > 1e-9 {
				t.Fatalf("Jitter = %.9f, want %.9f", got.Jitter, tt.want.Jitter)
			}
		})
	}
}

// TestReceiveStatsConcurrent updates and snapshots from different
// goroutines; run it with -race.
func TestReceiveStatsConcurrent(t *testing.T) {
	var s ReceiveStats
	var wg sync.WaitGroup
	t0 := time.Unix(0, 0)
	wg.Go(func() {
		for i := range 1000 {
			s.Update(uint64(1<<16+i), uint32(i)*960, t0.Add(time.Duration(i)*20*time.Millisecond), 48000)
		}
	})
	wg.Go(func() {
		for range 1000 {
			if snap := s.Snapshot(); snap.Received > snap.Expected {
				t.Errorf("Received %d > Expected %d without duplicates", snap.Received, snap.Expected)
				return
			}
		}
	})
	wg.Wait()
	if snap := s.Snapshot(); snap.Received != 1000 || snap.Lost != 0 {
		t.Fatalf("Snapshot() = %+v", snap)
	}
}

func TestReceiveStatsAllocs(t *testing.T) {
	var s ReceiveStats
	now := time.Unix(0, 0)
	var ext uint64 = 1 << 16
	n := testing.AllocsPerRun(1000, func() {
		ext++
		now = now.Add(20 * time.Millisecond)
		s.Update(ext, uint32(ext)*960, now, 48000)
	})
	if n != 0 {
		t.Fatalf("Update allocates %v times per call", n)
	}
}

func BenchmarkReceiveStatsUpdate(b *testing.B) {
	b.ReportAllocs()
	var s ReceiveStats
	now := time.Unix(0, 0)
	var ext uint64 = 1 << 16
	for b.Loop() {
		ext++
		now = now.Add(20 * time.Millisecond)
		s.Update(ext, uint32(ext)*960, now, 48000)
	}
}
