package node

import (
	"runtime"
	"sync"
	"syscall"
	"time"
)

// cpuMeter measures the process's share of the machine's CPU between two
// samples, for the load the node announces.
type cpuMeter struct {
	now func() time.Time

	mu       sync.Mutex // guards the fields below
	lastWall time.Time
	lastCPU  time.Duration
	share    float64
}

func newCPUMeter(now func() time.Time) *cpuMeter {
	m := &cpuMeter{now: now}
	m.lastWall, m.lastCPU = now(), processCPU()
	return m
}

// sample returns the CPU share (0..1 of all cores) since the previous
// sample, or the previous value when too little time has passed to say.
func (m *cpuMeter) sample() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	wall, cpu := m.now(), processCPU()
	elapsed := wall.Sub(m.lastWall)
	if elapsed < 100*time.Millisecond {
		return m.share
	}
	m.share = min(1, max(0, float64(cpu-m.lastCPU)/float64(elapsed)/float64(runtime.NumCPU())))
	m.lastWall, m.lastCPU = wall, cpu
	return m.share
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
