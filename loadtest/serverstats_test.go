package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func skipUnlessProc(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux /proc")
	}
}

func TestReadProc(t *testing.T) {
	skipUnlessProc(t)
	for _, pid := range []int{0, os.Getpid()} {
		t.Run(fmt.Sprint("pid ", pid), func(t *testing.T) {
			// Spend 100 ms of CPU, so that there are ticks to count.
			for start := rusageCPU(t); rusageCPU(t) < start+0.1; {
			}
			lo := rusageCPU(t)
			got, err := ReadProc(pid)
			if err != nil {
				t.Fatal(err)
			}
			hi := rusageCPU(t)
			// /proc counts whole ticks, getrusage microseconds.
			if got.CPUSeconds < lo-2.0/clockTicks || got.CPUSeconds > hi+2.0/clockTicks {
				t.Errorf("ReadProc CPU %.3f s, getrusage between %.3f and %.3f s", got.CPUSeconds, lo, hi)
			}
			if got.RSSBytes < 1<<20 || got.RSSBytes > 1<<40 {
				t.Errorf("RSS %d bytes", got.RSSBytes)
			}
		})
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Error("ReadProc of a process that cannot exist succeeded")
	}
}

// rusageCPU is the user and system time of this process, from getrusage.
func rusageCPU(t *testing.T) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// exposition is what promhttp serves, with labelled series and the awkward
// cases of the text format added.
const exposition = `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 5.24288e+07
# TYPE sfu_rtp_packets_forwarded_total counter
sfu_rtp_packets_forwarded_total{node="a"} 1.5e+06
sfu_rtp_packets_forwarded_total{node="b",note="a } and a \" inside"} 500000 1700000000000
sfu_rtp_packets_forwarded_total_created 1.7e+09
sfu_rtp_packets_received_total 25000
sfu_rtp_packets_received{odd="name"} 99
go_goroutines 42
`

func TestMetricsParseSample(t *testing.T) {
	tests := []struct {
		line  string
		name  string
		value float64
		ok    bool
	}{
		{"a 1", "a", 1, true},
		{"a_total 1.5e+06", "a_total", 1.5e6, true},
		{`a{x="1"} 2`, "a", 2, true},
		{`a{x="}",y="\"}"} 3 1700000000000`, "a", 3, true},
		{"a\t+Inf", "a", math.Inf(1), true},
		{`a{x="1" 2`, "", 0, false}, // unterminated labels
		{"a", "", 0, false},
		{"a notanumber", "a", 0, false},
		{"{} 1", "", 0, false},
	}
	for _, tt := range tests {
		name, value, ok := parseSample(tt.line)
		if ok != tt.ok || ok && (name != tt.name || value != tt.value) {
			t.Errorf("parseSample(%q) = %q, %v, %v; want %q, %v, %v", tt.line, name, value, ok, tt.name, tt.value, tt.ok)
		}
	}
}

func TestScrapeMetrics(t *testing.T) {
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
			t.Errorf("Accept: %q", r.Header.Get("Accept"))
		}
		_, _ = w.Write([]byte(exposition))
	})
	mux.HandleFunc("/other", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("go_goroutines 3\n"))
	})
	mux.HandleFunc("/guarded", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "an admin token is required", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(exposition))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	full := MetricsStats{CPUSeconds: 12.5, RSSBytes: 50 << 20, PacketsForwarded: 2e6, PacketsReceived: 25000}
	tests := []struct {
		path, token string
		want        MetricsStats
		wantErr     error // nil: any error fails, unless want is zero
	}{
		{"/metrics", "", full, nil},
		{"/other", "", MetricsStats{}, ErrNoMetrics},
		{"/missing", "", MetricsStats{}, nil},
		{"/guarded", "s3cret", full, nil},
		{"/guarded", "", MetricsStats{}, nil},
		{"/guarded", "wrong", MetricsStats{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path+"/"+tt.token, func(t *testing.T) {
			got, err := ScrapeMetrics(context.Background(), srv.URL+tt.path, tt.token)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error %v, want %v", err, tt.wantErr)
			case tt.want == (MetricsStats{}) && err == nil:
				t.Errorf("no error, got %+v", got)
			case tt.want != (MetricsStats{}) && (err != nil || got != tt.want):
				t.Errorf("ScrapeMetrics = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestMetricsURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ws://127.0.0.1:7880/ws", "http://127.0.0.1:7880/metrics"},
		{"wss://sfu.example.org/ws?token=x", "https://sfu.example.org/metrics"},
		{"ws://host:1/sfu/ws", "http://host:1/sfu/metrics"},
		{"ws://host:1", "http://host:1/metrics"},
		{"http://[::1]:7880/", "http://[::1]:7880/metrics"},
		{"ftp://host/ws", ""},
		{"::", ""},
	}
	for _, tt := range tests {
		got, err := MetricsURL(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("MetricsURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// listen opens a TCP listener the test owns, on loopback.
func listen(t *testing.T, network, addr string) int {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("%s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestLocalPID(t *testing.T) {
	skipUnlessProc(t)
	for _, tt := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		t.Run(tt.network, func(t *testing.T) {
			port := listen(t, tt.network, tt.addr)
			pid, err := LocalPID(port)
			if err != nil || pid != os.Getpid() {
				t.Errorf("LocalPID(%d) = %d, %v; want %d", port, pid, err, os.Getpid())
			}
		})
	}

	// A port that was listened on a moment ago, and no longer is.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	if pid, err := LocalPID(port); !errors.Is(err, ErrNoLocalPID) {
		t.Errorf("LocalPID of a closed port = %d, %v", pid, err)
	}
}

func TestWatcherConfigFor(t *testing.T) {
	skipUnlessProc(t)
	port := strconv.Itoa(listen(t, "tcp4", "127.0.0.1:0"))
	tests := []struct {
		name    string
		urls    []string
		metrics []string
		pid     int
	}{
		{"local server: its PID and its metrics", []string{"ws://127.0.0.1:" + port + "/ws"},
			[]string{"http://127.0.0.1:" + port + "/metrics"}, os.Getpid()},
		{"the same node twice is one node", []string{"ws://localhost:" + port + "/ws", "ws://localhost:" + port + "/ws?room=b"},
			[]string{"http://localhost:" + port + "/metrics"}, os.Getpid()},
		{"two nodes: metrics only", []string{"ws://127.0.0.1:" + port + "/ws", "ws://127.0.0.2:" + port + "/ws"},
			[]string{"http://127.0.0.1:" + port + "/metrics", "http://127.0.0.2:" + port + "/metrics"}, 0},
		{"remote: metrics only", []string{"wss://192.0.2.1:" + port + "/ws"},
			[]string{"https://192.0.2.1:" + port + "/metrics"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := WatcherConfigFor(tt.urls)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.PID != tt.pid || strings.Join(cfg.MetricsURLs, " ") != strings.Join(tt.metrics, " ") {
				t.Errorf("config %+v, want PID %d, metrics %q", cfg, tt.pid, tt.metrics)
			}
		})
	}
	if _, err := WatcherConfigFor([]string{"ftp://x"}); err == nil {
		t.Error("an ftp URL was accepted")
	}
}

// TestWatcherTotals feeds readings straight to the accounting, one second
// apart unless a case says otherwise.
func TestWatcherTotals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	self := func(cpu float64) ProcStats { return ProcStats{CPUSeconds: cpu, RSSBytes: 10 << 20} }
	type rd = reading
	tests := []struct {
		name     string
		readings []reading
		deltas   []ServerDelta // CPU, RSS, rates and harness only
		want     WatchSummary
	}{
		{"one reading: memory only",
			[]rd{{at: at(0), server: true, rss: 100 << 20}},
			nil,
			WatchSummary{Server: ServerSummary{RSSMB: 100}}},
		{"steady metrics",
			[]rd{
				{at: at(0), server: true, cpu: 10, rss: 100 << 20, packets: true, forwarded: 0, received: 0, self: self(1), selfOK: true},
				{at: at(1), server: true, cpu: 10.5, rss: 120 << 20, packets: true, forwarded: 1000, received: 100, self: self(1.25), selfOK: true},
				{at: at(3), server: true, cpu: 12.5, rss: 110 << 20, packets: true, forwarded: 5000, received: 300, self: self(1.75), selfOK: true},
			},
			[]ServerDelta{
				{CPUCores: 0.5, RSSMB: 120, ForwardedPPS: 1000, ReceivedPPS: 100, HarnessCPU: 0.25, HarnessRSSMB: 10},
				{CPUCores: 1, RSSMB: 110, ForwardedPPS: 2000, ReceivedPPS: 100, HarnessCPU: 0.25, HarnessRSSMB: 10},
			},
			WatchSummary{
				Server:  ServerSummary{CPUCores: 2.5 / 3, RSSMB: 120, ForwardedPPS: 5000.0 / 3, ReceivedPPS: 100, CPUUsPerForwardedPacket: 500},
				Harness: HarnessSummary{CPUCores: 0.25, CPUSeconds: 0.75, RSSMB: 10},
			}},
		{"PID without packets, a restart, a repeated timestamp",
			[]rd{
				{at: at(0), server: true, cpu: 10},
				{at: at(1), server: true, cpu: 11},
				{at: at(1), server: true, cpu: 99},  // no time passed: ignored
				{at: at(2), server: true, cpu: 0.5}, // restarted: nothing counted
				{at: at(3), server: true, cpu: 1.5},
			},
			[]ServerDelta{{CPUCores: 1}, {CPUCores: 0}, {CPUCores: 1}},
			WatchSummary{Server: ServerSummary{CPUCores: 2.0 / 3}}},
		{"packet counters at one end only are not a rate",
			[]rd{
				{at: at(0), server: true, cpu: 0, packets: true, forwarded: 100},
				{at: at(1), server: true, cpu: 1},
				{at: at(2), server: true, cpu: 2, packets: true, forwarded: 300},
				{at: at(3), server: true, cpu: 4, packets: true, forwarded: 700},
			},
			[]ServerDelta{{CPUCores: 1}, {CPUCores: 1}, {CPUCores: 2, ForwardedPPS: 400}},
			WatchSummary{Server: ServerSummary{CPUCores: 4.0 / 3, ForwardedPPS: 400, CPUUsPerForwardedPacket: 5000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tot watchTotals
			var deltas []ServerDelta
			for _, r := range tt.readings {
				if d, ok := tot.add(r); ok {
					d.At, d.Interval = time.Time{}, 0
					deltas = append(deltas, d)
				}
			}
			if len(deltas) != len(tt.deltas) {
				t.Fatalf("deltas %+v, want %+v", deltas, tt.deltas)
			}
			for i := range deltas {
				if !nearlyEqual(deltas[i], tt.deltas[i]) {
					t.Errorf("delta %d = %+v, want %+v", i, deltas[i], tt.deltas[i])
				}
			}
			if got := tot.summary(); !nearlyEqual(got, tt.want) {
				t.Errorf("summary %+v, want %+v", got, tt.want)
			}
		})
	}
}

// nearlyEqual compares structs of floats with a tolerance, through their
// printed form rounded to six significant digits.
func nearlyEqual(a, b any) bool { return fmt.Sprintf("%.6g", a) == fmt.Sprintf("%.6g", b) }

// fakeNode serves an exposition whose counters advance on every scrape:
// 100 packets forwarded, 50 received and 10 ms of CPU.
type fakeNode struct {
	mu    sync.Mutex
	calls int
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	n.calls++
	c := n.calls
	n.mu.Unlock()
	fmt.Fprintf(w, "process_cpu_seconds_total %g\nprocess_resident_memory_bytes %d\n", 0.01*float64(c), 30<<20)
	fmt.Fprintf(w, "sfu_rtp_packets_forwarded_total %d\nsfu_rtp_packets_received_total %d\n", 100*c, 50*c)
}

func TestServerWatcher(t *testing.T) {
	skipUnlessProc(t)
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	a, b := httptest.NewServer(&fakeNode{}), httptest.NewServer(&fakeNode{})
	defer a.Close()
	defer b.Close()

	tests := []struct {
		name string
		cfg  WatcherConfig
		// want checks the summary; every sample is one second apart.
		want func(t *testing.T, s WatchSummary)
	}{
		{"two nodes' metrics, summed", WatcherConfig{MetricsURLs: []string{a.URL, b.URL}}, func(t *testing.T, s WatchSummary) {
			want := ServerSummary{CPUCores: 0.02, RSSMB: 60, ForwardedPPS: 200, ReceivedPPS: 100, CPUUsPerForwardedPacket: 100,
				Source: a.URL + " + " + b.URL}
			if !nearlyEqual(s.Server, want) {
				t.Errorf("server %+v, want %+v", s.Server, want)
			}
		}},
		{"this process by PID", WatcherConfig{PID: os.Getpid()}, func(t *testing.T, s WatchSummary) {
			if s.Server.RSSMB < 1 || s.Server.ForwardedPPS != 0 || s.Server.Source != "pid "+strconv.Itoa(os.Getpid()) {
				t.Errorf("server %+v", s.Server)
			}
		}},
		{"PID for CPU, metrics for packets", WatcherConfig{PID: os.Getpid(), MetricsURLs: []string{a.URL}}, func(t *testing.T, s WatchSummary) {
			if s.Server.ForwardedPPS != 100 || s.Server.RSSMB == 30 || s.Harness.RSSMB < 1 {
				t.Errorf("summary %+v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewServerWatcher(WatcherConfig{PID: tt.cfg.PID, MetricsURLs: tt.cfg.MetricsURLs, Interval: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			var clock atomic.Int64
			w.now = func() time.Time { return time.Unix(clock.Add(1), 0) }
			if err := w.Start(ctx); err != nil {
				t.Fatal(err)
			}
			for {
				if d, ok := w.Latest(); ok {
					if d.Interval != time.Second {
						t.Errorf("interval %v", d.Interval)
					}
					break
				}
				if ctx.Err() != nil {
					t.Fatal("no sample taken")
				}
				time.Sleep(time.Millisecond)
			}
			s := w.Stop(ctx)
			if s.Server.Errors != 0 {
				t.Errorf("%d errors", s.Server.Errors)
			}
			tt.want(t, s)
			if again := w.Stop(ctx); again != s {
				t.Errorf("second Stop: %+v, first %+v", again, s)
			}
		})
	}
}

func TestServerWatcherErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	if _, err := NewServerWatcher(WatcherConfig{}); !errors.Is(err, ErrNothingToWatch) {
		t.Errorf("empty config: %v", err)
	}

	// No metrics there: Start fails, and leaves no goroutine.
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()
	w, err := NewServerWatcher(WatcherConfig{MetricsURLs: []string{empty.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err == nil {
		t.Error("Start succeeded against a server with no metrics")
	}
	w.Stop(context.Background())

	// A server that goes away mid-run: its samples count as errors, and
	// the context ending stops the sampling before Stop.
	srv := httptest.NewServer(&fakeNode{})
	defer srv.Close()
	w, err = NewServerWatcher(WatcherConfig{MetricsURLs: []string{srv.URL}, Interval: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if s := w.Stop(context.Background()); s.Server.Errors == 0 {
		t.Errorf("no errors counted: %+v", s)
	}
}
