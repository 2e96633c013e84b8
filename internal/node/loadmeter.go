package node

import (
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/sfu-project/sfu/cluster"
	"github.com/sfu-project/sfu/sfu"
)

// loadMeter measures what the node announces: its tracks, and between two
// samples its share of the machine's CPU and the bit rate it forwards.
type loadMeter struct {
	media *sfu.SFU
	now   func() time.Time

	mu        sync.Mutex // guards the fields below
	lastWall  time.Time
	lastCPU   time.Duration
	lastBytes uint64
	last      cluster.Load
}

func newLoadMeter(media *sfu.SFU, now func() time.Time) *loadMeter {
	m := &loadMeter{media: media, now: now}
	m.lastWall, m.lastCPU, m.lastBytes = now(), processCPU(), media.Load().BytesForwarded
	return m
}

// sample returns the load now; the rates are since the previous sample,
// or the previous ones when too little time has passed to say.
func (m *loadMeter) sample() cluster.Load {
	l := m.media.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last.Rooms, m.last.Participants, m.last.Tracks = l.Rooms, l.Participants, l.Tracks
	wall, cpu := m.now(), processCPU()
	elapsed := wall.Sub(m.lastWall)
	if elapsed < 100*time.Millisecond {
		return m.last
	}
	m.last.CPU = min(1, max(0, float64(cpu-m.lastCPU)/float64(elapsed)/float64(runtime.NumCPU())))
	m.last.ForwardedBitrate = int64(float64(l.BytesForwarded-m.lastBytes) * 8 / elapsed.Seconds())
	m.lastWall, m.lastCPU, m.lastBytes = wall, cpu, l.BytesForwarded
	return m.last
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
