package signaling_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

// procFigures are what the process holds at one moment, as the soak
// compares them with its baseline.
type procFigures struct {
	Goroutines int
	FDs        int
	HeapAlloc  uint64 // live heap right after a forced collection
	RSS        uint64 // VmRSS after the collection returned free memory to the system
}

// readProcFigures collects the garbage and returns the figures.
// debug.FreeOSMemory runs a full collection and returns the freed pages;
// the second collection frees what the first one's finalizers let go and
// the sync.Pools' victim caches, so HeapAlloc is what is still reachable.
func readProcFigures() procFigures {
	debug.FreeOSMemory()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return procFigures{
		Goroutines: runtime.NumGoroutine(),
		FDs:        len(openFDs()),
		HeapAlloc:  ms.HeapAlloc,
		RSS:        vmRSS(),
	}
}

func (f procFigures) String() string {
	return fmt.Sprintf("goroutines %d, fds %d, heap after GC %s, RSS %s",
		f.Goroutines, f.FDs, mib(f.HeapAlloc), mib(f.RSS))
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// openFDs returns the process's open file descriptors and what each
// refers to (socket:[inode], a path, anon_inode:[eventpoll]...). The
// directory read itself holds one, the same at every call.
func openFDs() map[string]string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		out[e.Name()] = target
	}
	return out
}

// newFDs describes the descriptors open now that were not open (to the
// same thing) in base.
func newFDs(base map[string]string) string {
	var extra []string
	for fd, target := range openFDs() {
		if base[fd] != target {
			extra = append(extra, fd+" -> "+target)
		}
	}
	slices.Sort(extra)
	return strings.Join(extra, ", ")
}

// vmRSS is the resident set size from /proc/self/status, or 0.
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// serverState is what the server says it holds; zero when it is empty.
type serverState struct {
	Participants, Rooms, Tracks int // the sfu's gauges
	RoomMap                     int // rooms in the SFU's map
	Conns                       int // open WebSocket connections
}

func (ts *testServer) state() serverState {
	return serverState{
		Participants: int(testutil.ToFloat64(ts.metrics.Participants)),
		Rooms:        int(testutil.ToFloat64(ts.metrics.Rooms)),
		Tracks:       int(testutil.ToFloat64(ts.metrics.Tracks)),
		RoomMap:      ts.sfu.RoomCount(),
		Conns:        ts.sig.Connections(),
	}
}

func (s serverState) String() string {
	return fmt.Sprintf("participants %d, rooms %d (map %d), tracks %d, connections %d",
		s.Participants, s.Rooms, s.RoomMap, s.Tracks, s.Conns)
}

// settle polls check until it returns "" or the deadline passes, and
// returns the last complaint.
func settle(deadline time.Time, check func() string) string {
	for {
		complaint := check()
		if complaint == "" || time.Now().After(deadline) {
			return complaint
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// leakedGoroutines is goleak's account of the goroutines started since
// ignore was taken that still run, or "".
func leakedGoroutines(ignore goleak.Option) string {
	// goleak retries for about a second by itself; settle calls it again.
	if err := goleak.Find(ignore); err != nil {
		return err.Error()
	}
	return ""
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
