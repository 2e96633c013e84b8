package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// The kernel reports 100 to user space on every architecture whatever its
// internal tick rate, so it is a constant rather than a sysconf call.
const clockTicks = 100

const mebibyte = 1 << 20

var (
	// ErrNoMetrics is returned by ScrapeMetrics when the page holds none of
	// the series it looks for: probably not a /metrics endpoint.
	ErrNoMetrics = errors.New("loadtest: no process or sfu metrics in the exposition")
	// ErrNoLocalPID is wrapped by LocalPID's errors.
	ErrNoLocalPID = errors.New("loadtest: no local process found")
	// ErrNothingToWatch is returned by NewServerWatcher for a config with
	// neither a PID nor a metrics URL.
	ErrNothingToWatch = errors.New("loadtest: server watcher needs a PID or a metrics URL")
)

// ProcStats is a process's cost so far, from /proc.
type ProcStats struct {
	CPUSeconds float64 // user plus system time since the process started
	RSSBytes   int64
}

// ReadProc reads the CPU time and resident memory of process pid; pid 0
// is the calling process. It works on Linux only.
func ReadProc(pid int) (ProcStats, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcStats{}, fmt.Errorf("loadtest: %w", err)
	}
	// The command name, in parentheses, may itself hold spaces and
	// parentheses, so fields are counted from the last ')'. fields[0] is
	// then field 3 of proc(5), the state; utime and stime are 14 and 15.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return ProcStats{}, fmt.Errorf("loadtest: %s/stat: %d fields", dir, len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return ProcStats{}, fmt.Errorf("loadtest: %s/stat: %w", dir, err)
	}
	s := ProcStats{CPUSeconds: float64(utime+stime) / clockTicks}

	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcStats{}, fmt.Errorf("loadtest: %w", err)
	}
	// "VmRSS:	  123456 kB"; kernel threads have no such line.
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return ProcStats{}, fmt.Errorf("loadtest: %s/status: VmRSS: %w", dir, err)
			}
			s.RSSBytes = kb * 1024
		}
	}
	return s, nil
}

// LocalPID finds the process listening on TCP port port of this machine,
// through /proc/net/tcp{,6} and the socket links in /proc/PID/fd. It is
// best effort: it sees only this network namespace, and only the
// processes this user may inspect. Its errors wrap ErrNoLocalPID.
func LocalPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(table, port, inodes); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: %w", ErrNoLocalPID, err)
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("%w: nothing listens on TCP port %d", ErrNoLocalPID, port)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoLocalPID, err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir("/proc/" + p.Name() + "/fd")
		if err != nil {
			continue // another user's process, or gone
		}
		for _, fd := range fds {
			link, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name())
			if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok && inodes[strings.TrimSuffix(inode, "]")] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: TCP port %d is listened on by no process this user may inspect", ErrNoLocalPID, port)
}

// listeningInodes adds to inodes the socket inodes of table (proc(5)
// /proc/net/tcp) in state LISTEN on port.
func listeningInodes(table string, port int, inodes map[string]bool) error {
	data, err := os.ReadFile(table)
	if err != nil {
		return err
	}
	const listen = "0A"
	for i, line := range strings.Split(string(data), "\n") {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if i == 0 || len(f) < 10 || f[3] != listen {
			continue
		}
		_, hexPort, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			inodes[f[9]] = true
		}
	}
	return nil
}

// WatcherConfig says what a ServerWatcher measures.
type WatcherConfig struct {
	// PID, if not 0, is the server's process: its CPU time and memory are
	// read from /proc. If the server runs inside the harness's process,
	// its figures include the harness's.
	PID int
	// MetricsURLs are the /metrics endpoints of the server's nodes, summed.
	// The packet counters come from them, and CPU and memory as well when
	// PID is 0.
	MetricsURLs []string
	// MetricsToken, if set, is sent as "Authorization: Bearer" with each
	// scrape.
	MetricsToken string
	// Interval is the time between samples; 1 s if zero.
	Interval time.Duration
	// Timeout bounds one round of scrapes; the interval, and at least 1 s,
	// if zero.
	Timeout time.Duration
}

// WatcherConfigFor watches the servers behind the given WebSocket URLs
// through their /metrics endpoints, and, for a single server on this
// machine whose listener LocalPID finds, through /proc as well.
func WatcherConfigFor(wsURLs []string) (WatcherConfig, error) {
	var cfg WatcherConfig
	for _, s := range wsURLs {
		m, err := MetricsURL(s)
		if err != nil {
			return WatcherConfig{}, err
		}
		if !slices.Contains(cfg.MetricsURLs, m) {
			cfg.MetricsURLs = append(cfg.MetricsURLs, m)
		}
	}
	if len(cfg.MetricsURLs) != 1 {
		return cfg, nil
	}
	u, _ := url.Parse(cfg.MetricsURLs[0]) // MetricsURL's own output
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ip := net.ParseIP(host)
	if host == "localhost" || ip != nil && ip.IsLoopback() {
		if n, err := strconv.Atoi(port); err == nil {
			cfg.PID, _ = LocalPID(n) // best effort: /metrics alone will do
		}
	}
	return cfg, nil
}

// ServerDelta is what the server (and the harness) spent over one
// interval between samples.
type ServerDelta struct {
	At           time.Time // the end of the interval
	Interval     time.Duration
	CPUCores     float64 // server CPU seconds per second
	RSSMB        float64 // server resident memory at At, MiB
	ForwardedPPS float64 // 0 without metrics
	ReceivedPPS  float64
	HarnessCPU   float64 // cores the harness's own process used
	HarnessRSSMB float64
}

// ServerSummary is the server's cost over a whole run. Memory is in MiB.
type ServerSummary struct {
	CPUCores                float64 `json:"cpu_cores"` // mean
	RSSMB                   float64 `json:"rss_mb"`    // peak
	ForwardedPPS            float64 `json:"forwarded_pps"`
	ReceivedPPS             float64 `json:"received_pps"`
	CPUUsPerForwardedPacket float64 `json:"cpu_us_per_forwarded_packet"`
	Source                  string  `json:"source"` // what was measured: "pid N", metrics URLs
	Errors                  int     `json:"errors"` // samples that could not be taken
}

// HarnessSummary is the load harness's own cost over a run.
type HarnessSummary struct {
	CPUCores            float64 `json:"cpu_cores"` // mean
	CPUSeconds          float64 `json:"cpu_seconds"`
	RSSMB               float64 `json:"rss_mb"` // peak
	UsPerReceivedPacket float64 `json:"us_per_received_packet"`
}

// WatchSummary is what a ServerWatcher measured over its run.
type WatchSummary struct {
	Server  ServerSummary
	Harness HarnessSummary
}

// ServerWatcher samples the server's cost, and the harness's, while a run
// goes on.
type ServerWatcher struct {
	cfg    WatcherConfig
	client *http.Client
	now    func() time.Time

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	mu      sync.Mutex // guards the fields below
	totals  watchTotals
	latest  ServerDelta
	sampled bool
	errors  int
}

// NewServerWatcher returns a watcher for cfg, with defaults filled in.
func NewServerWatcher(cfg WatcherConfig) (*ServerWatcher, error) {
	if cfg.PID == 0 && len(cfg.MetricsURLs) == 0 {
		return nil, ErrNothingToWatch
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = max(cfg.Interval, time.Second)
	}
	// A connection a second is cheap, and without an idle pool no
	// connection goroutine outlives its scrape, nor the watcher.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	return &ServerWatcher{
		cfg:    cfg,
		client: &http.Client{Transport: transport},
		now:    time.Now,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}, nil
}

// Start takes a first sample, failing if the server cannot be measured at
// all, then samples every interval until Stop or ctx ends. Call it once.
func (w *ServerWatcher) Start(ctx context.Context) error {
	r, err := w.read(ctx)
	if !r.server {
		w.stopOnce.Do(func() {}) // nothing for Stop to stop, nor to measure
		return err
	}
	w.record(r, err)
	go w.loop(ctx)
	return nil
}

func (w *ServerWatcher) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		case <-t.C:
			w.record(w.read(ctx))
		}
	}
}

// Latest is the newest interval's figures; false before the first
// interval is complete.
func (w *ServerWatcher) Latest() (ServerDelta, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest, w.sampled
}

// Stop ends the sampling, takes a last sample so that the summary covers
// the run up to now, and returns the summary. Later calls return it again.
// It must follow Start.
func (w *ServerWatcher) Stop(ctx context.Context) WatchSummary {
	w.stopOnce.Do(func() {
		close(w.stop)
		<-w.done
		w.record(w.read(ctx))
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := w.totals.summary()
	sum.Server.Source = w.source()
	sum.Server.Errors = w.errors
	return sum
}

func (w *ServerWatcher) source() string {
	var parts []string
	if w.cfg.PID != 0 {
		parts = append(parts, "pid "+strconv.Itoa(w.cfg.PID))
	}
	return strings.Join(append(parts, w.cfg.MetricsURLs...), " + ")
}

// record adds a sample taken by read; err, if any, is counted whether or
// not the sample is usable.
func (w *ServerWatcher) record(r reading, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errors++
	}
	if !r.server {
		return
	}
	if d, ok := w.totals.add(r); ok {
		w.latest, w.sampled = d, true
	}
}

// reading is one sample of the cumulative counters.
type reading struct {
	at     time.Time
	server bool // cpu and rss are valid
	cpu    float64
	rss    int64

	packets             bool // forwarded and received are valid
	forwarded, received float64

	self   ProcStats
	selfOK bool
}

// read takes a sample without holding w.mu: scrapes may take a while. In
// PID mode a failed scrape costs only the packet counters.
func (w *ServerWatcher) read(ctx context.Context) (reading, error) {
	r := reading{at: w.now()}
	var scrapeErr error
	if len(w.cfg.MetricsURLs) > 0 {
		ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
		defer cancel()
		var sum MetricsStats
		for _, u := range w.cfg.MetricsURLs {
			m, err := scrapeMetrics(ctx, w.client, u, w.cfg.MetricsToken)
			if err != nil {
				scrapeErr = err
				break
			}
			sum.CPUSeconds += m.CPUSeconds
			sum.RSSBytes += m.RSSBytes
			sum.PacketsForwarded += m.PacketsForwarded
			sum.PacketsReceived += m.PacketsReceived
		}
		if scrapeErr == nil {
			r.server, r.cpu, r.rss = true, sum.CPUSeconds, sum.RSSBytes
			r.packets, r.forwarded, r.received = true, sum.PacketsForwarded, sum.PacketsReceived
		}
	}
	if w.cfg.PID != 0 {
		p, err := ReadProc(w.cfg.PID)
		if err != nil {
			return reading{}, errors.Join(err, scrapeErr)
		}
		r.server, r.cpu, r.rss = true, p.CPUSeconds, p.RSSBytes
	}
	if p, err := ReadProc(0); err == nil {
		r.self, r.selfOK = p, true
	}
	return r, scrapeErr
}

// watchTotals accumulates samples into per-interval deltas and whole-run
// sums. Counters that go backwards (a restarted server) count as zero for
// that interval.
type watchTotals struct {
	prev    reading
	started bool

	elapsed, cpu float64 // seconds covered, server CPU seconds spent in them
	maxRSS       int64
	// Over the intervals with packet counters at both ends:
	pktElapsed, pktCPU, forwarded, received float64

	selfElapsed, selfCPU float64
	selfMaxRSS           int64
}

func (t *watchTotals) add(r reading) (ServerDelta, bool) {
	if t.started && !r.at.After(t.prev.at) {
		return ServerDelta{}, false
	}
	t.maxRSS = max(t.maxRSS, r.rss)
	if r.selfOK {
		t.selfMaxRSS = max(t.selfMaxRSS, r.self.RSSBytes)
	}
	prev := t.prev
	t.prev = r
	if !t.started {
		t.started = true
		return ServerDelta{}, false
	}

	dt := r.at.Sub(prev.at).Seconds()
	d := ServerDelta{At: r.at, Interval: r.at.Sub(prev.at), RSSMB: float64(r.rss) / mebibyte}
	cpu := max(r.cpu-prev.cpu, 0)
	d.CPUCores = cpu / dt
	t.elapsed += dt
	t.cpu += cpu
	if r.packets && prev.packets {
		fwd, recv := max(r.forwarded-prev.forwarded, 0), max(r.received-prev.received, 0)
		d.ForwardedPPS, d.ReceivedPPS = fwd/dt, recv/dt
		t.pktElapsed += dt
		t.pktCPU += cpu
		t.forwarded += fwd
		t.received += recv
	}
	if r.selfOK && prev.selfOK {
		self := max(r.self.CPUSeconds-prev.self.CPUSeconds, 0)
		d.HarnessCPU = self / dt
		d.HarnessRSSMB = float64(r.self.RSSBytes) / mebibyte
		t.selfElapsed += dt
		t.selfCPU += self
	}
	return d, true
}

func (t *watchTotals) summary() WatchSummary {
	s := WatchSummary{
		Server:  ServerSummary{RSSMB: float64(t.maxRSS) / mebibyte},
		Harness: HarnessSummary{CPUSeconds: t.selfCPU, RSSMB: float64(t.selfMaxRSS) / mebibyte},
	}
	if t.elapsed > 0 {
		s.Server.CPUCores = t.cpu / t.elapsed
	}
	if t.pktElapsed > 0 {
		s.Server.ForwardedPPS = t.forwarded / t.pktElapsed
		s.Server.ReceivedPPS = t.received / t.pktElapsed
	}
	if t.forwarded > 0 {
		s.Server.CPUUsPerForwardedPacket = t.pktCPU * 1e6 / t.forwarded
	}
	if t.selfElapsed > 0 {
		s.Harness.CPUCores = t.selfCPU / t.selfElapsed
	}
	return s
}
