package signaling_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// Tests on real constrained links. The SFU and a simulcast publisher run in
// this process; the subscriber runs in a network namespace (loadtest.Lab)
// whose link from the SFU is rate-limited with tbf or made lossy with
// nftables. pion cannot be moved into another namespace within a process,
// so the subscriber is this test binary re-executed there (netlabChild,
// started from TestMain), reporting what it receives every 250 ms.

// Environment of the re-executed subscriber.
const (
	netlabChildEnv = "SFU_NETLAB_CHILD" // "1": be the subscriber
	netlabURLEnv   = "SFU_NETLAB_URL"
	netlabTokenEnv = "SFU_NETLAB_TOKEN"
	netlabIPEnv    = "SFU_NETLAB_IP"   // the only local address ICE may use
	netlabDataEnv  = "SFU_NETLAB_DATA" // "1": open the data channels too (data_lab_test.go)
)

// childReport is what the subscriber prints every childReportInterval.
type childReport struct {
	At     time.Time
	Tracks map[string]loadtest.TrackCounts
	Data   loadtest.DataCounts
}

const childReportInterval = 250 * time.Millisecond

// netlabChild is the subscriber's main: it joins, receives until its
// parent closes its stdin (or 2 minutes pass), and reports.
func netlabChild() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := loadtest.Dial(ctx, loadtest.Options{
		URL:      os.Getenv(netlabURLEnv),
		Token:    os.Getenv(netlabTokenEnv),
		AllowIPs: []net.IP{net.ParseIP(os.Getenv(netlabIPEnv))},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "netlab child:", err)
		return 1
	}
	defer c.Close()
	if os.Getenv(netlabDataEnv) != "" {
		if err := c.OpenData(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "netlab child: data channels:", err)
			return 1
		}
	}
	gone := loadtest.ParentGone()
	tick := time.NewTicker(childReportInterval)
	defer tick.Stop()
	for {
		select {
		case <-gone:
			return 0
		case <-ctx.Done():
			return 0
		case now := <-tick.C:
			if err := loadtest.Report(childReport{At: now, Tracks: c.Received(), Data: c.DataCounts()}); err != nil {
				return 1
			}
		}
	}
}

// newTestServerOn is newTestServer with media and signaling on ip: the SFU
// advertises ip in its ICE candidates and uses only remote candidates in
// remote, and the WebSocket endpoint listens on ip.
func newTestServerOn(t *testing.T, ip net.IP, remote ...string) *testServer {
	t.Helper()
	cfg := sfu.Default()
	cfg.UDPPort = 0
	cfg.NodeIP = ip.String()
	cfg.RemoteNetworks = remote
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	metrics := sfu.NewMetrics(nil)
	media, err := sfu.New(cfg, sfu.Options{Logger: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	keys := signaling.Keys{"test": "0123456789abcdef0123456789abcdef"}
	sig := signaling.NewServer(signaling.Default(), keys, signaling.LocalBackend{SFU: media}, log)
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	hs := httptest.NewUnstartedServer(mux)
	l, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		_ = media.Close()
		sig.Close()
		t.Fatal(err)
	}
	_ = hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	ts := &testServer{t: t, sfu: media, sig: sig, http: hs, keys: keys, metrics: metrics}
	ts.wsURL = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	t.Cleanup(ts.close)
	return ts
}

// constrainedRoom is a lab, a server on its host side, a simulcast
// publisher in this process and a subscriber inside the namespace.
type constrainedRoom struct {
	t     *testing.T
	lab   *loadtest.Lab
	ts    *testServer
	pub   *loadtest.Client
	sub   *loadtest.Child
	media loadtest.Media
	last  sample   // the newest report
	trace []string // every report, logged if the test fails
}

func newConstrainedRoom(ctx context.Context, t *testing.T, room string) *constrainedRoom {
	t.Helper()
	lab := loadtest.NewTestLab(t)
	ts := newTestServerOn(t, lab.HostIP, lab.Net.String())
	r := &constrainedRoom{t: t, lab: lab, ts: ts, media: loadtest.DefaultMedia}
	r.media.Simulcast = true
	// The publisher's link is not constrained: it uses the host address,
	// which the kernel routes over loopback.
	r.pub = ts.join(ctx, room, func(o *loadtest.Options) {
		o.LoopbackOnly = false
		o.AllowIPs = []net.IP{lab.HostIP}
	})
	if err := r.pub.Publish(r.media); err != nil {
		t.Fatal(err)
	}
	sub, err := lab.StartSelf([]string{
		netlabChildEnv + "=1",
		netlabURLEnv + "=" + ts.wsURL,
		netlabTokenEnv + "=" + ts.token(room, signaling.Grants{Subscribe: true}),
		netlabIPEnv + "=" + lab.NSIP.String(),
	}, "-test.run=^$")
	if err != nil {
		t.Fatal(err)
	}
	r.sub = sub
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("subscriber reports (layer of the newest whole frame; the SFU's estimates summed over subscribers):\n%s", strings.Join(r.trace, "\n"))
		}
	})
	t.Cleanup(func() {
		if err := sub.Stop(); err != nil {
			t.Errorf("subscriber: %v\n%s", err, sub.Stderr())
		}
	})
	return r
}

// sample is the subscriber's view of the publisher's video at one report.
type sample struct {
	at    time.Time
	video loadtest.TrackCounts
	layer int // of the newest frame
}

// next waits for the subscriber's next report.
func (r *constrainedRoom) next() (sample, bool) {
	r.t.Helper()
	var rep childReport
	ok, err := r.sub.Next(&rep, 2*time.Second)
	if err != nil {
		r.t.Fatalf("subscriber: %v", err)
	}
	if !ok {
		return sample{}, false
	}
	s := sample{at: rep.At, layer: -1}
	for _, tc := range rep.Tracks {
		if tc.ParticipantID == r.pub.Self.ID && tc.Kind == "video" && !tc.Ended {
			s.video, s.layer = tc, layerOfFrame(r.media, tc.LastFrameSize)
		}
	}
	r.trace = append(r.trace, fmt.Sprintf("%s layer %d, +%d frames, +%d unrepaired, longest freeze %v; SFU: estimates %.0f kbit/s, %.0f paused",
		s.at.Format("15:04:05.000"), s.layer, s.video.Frames-r.last.video.Frames, s.video.Unrepaired-r.last.video.Unrepaired,
		s.video.LongestGap.Round(time.Millisecond), testutil.ToFloat64(r.ts.metrics.EstimateBits)/1000, testutil.ToFloat64(r.ts.metrics.PausedTracks)))
	r.last = s
	return s, true
}

// sfuLayer waits until the SFU forwards layer to the room's subscriber
// (the switch happens at a keyframe of that layer) and returns when.
func (r *constrainedRoom) sfuLayer(room string, layer int, timeout time.Duration) time.Time {
	r.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, _ := r.ts.sfu.RoomState(room)
		for _, p := range st.Participants {
			for _, sub := range p.Subscriptions {
				if sub.Kind == "video" && sub.Current == layer {
					return time.Now()
				}
			}
		}
	}
	r.t.Fatalf("the SFU did not forward layer %d within %v", layer, timeout)
	return time.Time{}
}

// mark notes an event in the trace of reports.
func (r *constrainedRoom) mark(event string) {
	r.trace = append(r.trace, time.Now().Format("15:04:05.000")+" "+event)
}

// waitFor returns the first report for which cond holds over hold
// consecutive reports (frames arriving throughout), failing after timeout.
func (r *constrainedRoom) waitFor(timeout time.Duration, what string, hold int, cond func(sample) bool) sample {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	var first, last sample
	run := 0
	for time.Now().Before(deadline) {
		s, ok := r.next()
		if !ok {
			continue
		}
		if cond(s) && s.video.Frames > last.video.Frames {
			if run == 0 {
				first = s
			}
			if run++; run >= hold {
				return first
			}
		} else {
			run = 0
		}
		last = s
	}
	r.t.Fatalf("timed out after %v waiting for %s (the reports are logged below)", timeout, what)
	return sample{}
}

// window is what arrived between two samples.
type window struct {
	dur              time.Duration
	frames, expected int
	unrepaired       int
	layers           map[int]int // frames' layers, one count per report
}

func (w window) loss() float64 {
	if w.expected == 0 {
		return 1
	}
	return float64(w.unrepaired) / float64(w.expected)
}

func (w window) fps() float64 { return float64(w.frames) / w.dur.Seconds() }

// measure collects reports for d.
func (r *constrainedRoom) measure(d time.Duration) window {
	r.t.Helper()
	var first, last sample
	w := window{layers: map[int]int{}}
	for end := time.Now().Add(d); time.Now().Before(end); {
		s, ok := r.next()
		if !ok {
			continue
		}
		if first.at.IsZero() {
			first = s
		}
		last = s
		w.layers[s.layer]++
	}
	w.dur = last.at.Sub(first.at)
	w.frames = last.video.Frames - first.video.Frames
	w.expected = last.video.Unique + last.video.Missing - first.video.Unique - first.video.Missing
	w.unrepaired = last.video.Unrepaired - first.video.Unrepaired
	return w
}

// TestRateLimitedSubscriber limits a subscriber's link to 350 kbit/s: the
// SFU must step it down to the lowest simulcast layer (150 kbit/s; the
// middle one, 300 kbit/s plus audio, does not fit), keep its video going
// with under 2% loss, and bring the top layer back within 15 s of the link
// opening up to 5 Mbit/s.
func TestRateLimitedSubscriber(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newConstrainedRoom(ctx, t, "ratelimit")

	top := r.waitFor(15*time.Second, "the top layer on an open link", 4, func(s sample) bool { return s.layer == 2 })
	t.Logf("open link: top layer after %v", top.at.Sub(top.video.First).Round(time.Millisecond))

	if err := r.lab.SetRate(350_000); err != nil {
		t.Fatal(err)
	}
	r.mark("link limited to 350 kbit/s")
	limited := time.Now()
	switched := r.sfuLayer("ratelimit", 0, 5*time.Second)
	if d := switched.Sub(limited); d > 2*time.Second {
		t.Errorf("the SFU switched the subscriber to layer 0 %v after the limit, want within 2 s", d.Round(time.Millisecond))
	}
	low := r.waitFor(15*time.Second, "the lowest layer at 350 kbit/s", 4, func(s sample) bool { return s.layer == 0 })
	t.Logf("350 kbit/s: the SFU forwarded layer 0 from %v after the limit; the subscriber played it from %v",
		switched.Sub(limited).Round(time.Millisecond), low.at.Sub(limited).Round(time.Millisecond))

	r.measure(2 * time.Second) // settle
	w := r.measure(5 * time.Second)
	t.Logf("350 kbit/s after recovery: %.1f fps, %d of %d packets lost (%.2f%%), layers per report %v",
		w.fps(), w.unrepaired, w.expected, 100*w.loss(), w.layers)
	if w.fps() < 20 {
		t.Errorf("only %.1f fps at 350 kbit/s", w.fps())
	}
	if w.loss() >= 0.02 {
		t.Errorf("%.2f%% loss at 350 kbit/s after recovery, want < 2%%", 100*w.loss())
	}
	for l := range w.layers {
		if l != 0 {
			t.Errorf("layers at 350 kbit/s: %v (reports per layer), want only layer 0", w.layers)
			break
		}
	}

	if err := r.lab.SetRate(5_000_000); err != nil {
		t.Fatal(err)
	}
	r.mark("link opened to 5 Mbit/s")
	opened := time.Now()
	back := r.waitFor(15*time.Second, "the top layer at 5 Mbit/s", 4, func(s sample) bool { return s.layer == 2 })
	m := r.ts.metrics
	t.Logf("5 Mbit/s: back on layer 2 after %v; probes over the whole test: %v succeeded, %v failed, %.0f kB of padding",
		back.at.Sub(opened).Round(time.Millisecond), testutil.ToFloat64(m.ProbesSucceeded), testutil.ToFloat64(m.ProbesFailed), testutil.ToFloat64(m.PaddingBytes)/1000)
}

// TestLossySubscriber loses 5% of the packets toward a subscriber at
// random: NACKs answered from the SFU's cache must keep its video going,
// with no freeze over 1 s and almost nothing left unrepaired.
func TestLossySubscriber(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newConstrainedRoom(ctx, t, "lossy")
	r.waitFor(15*time.Second, "video on a clean link", 4, func(s sample) bool { return s.layer >= 0 })
	before, _ := r.next()

	if err := r.lab.SetLoss(5); err != nil {
		t.Fatal(err)
	}
	r.mark("5% loss")
	nacks := testutil.ToFloat64(r.ts.metrics.NacksReceived)
	rtx := testutil.ToFloat64(r.ts.metrics.PacketsRetransmit)
	r.measure(time.Second) // the first losses are in flight
	w := r.measure(8 * time.Second)
	after, _ := r.next()
	gap := after.video.LongestGap
	t.Logf("5%% loss: %.1f fps, %d of %d packets unrepaired (%.2f%%), longest freeze %v (%v before the loss), %v NACKed, %v retransmitted, layers per report %v",
		w.fps(), w.unrepaired, w.expected, 100*w.loss(), gap.Round(time.Millisecond), before.video.LongestGap.Round(time.Millisecond),
		testutil.ToFloat64(r.ts.metrics.NacksReceived)-nacks, testutil.ToFloat64(r.ts.metrics.PacketsRetransmit)-rtx, w.layers)
	if gap > time.Second {
		t.Errorf("video froze for %v under 5%% loss", gap)
	}
	if w.fps() < 20 {
		t.Errorf("only %.1f fps under 5%% loss", w.fps())
	}
	if w.loss() >= 0.01 {
		t.Errorf("%.2f%% of packets unrepaired under 5%% loss, want < 1%%", 100*w.loss())
	}
}

// TestPausedSubscriberComesBack limits a subscriber's link to 80 kbit/s,
// less than the lowest simulcast layer, until the SFU pauses its video,
// and opens it to 5 Mbit/s at once: video must come back. The estimate
// the pause left behind is held under the rate the narrow link showed for
// 8 s; probe padding on the paused track shows sooner that the link
// carries more (video again 6.0-7.0 s after the link opened, against
// 9.5-10.0 s without it). The bound asserted leaves room for a slow
// machine.
func TestPausedSubscriberComesBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newConstrainedRoom(ctx, t, "paused")
	r.waitFor(15*time.Second, "video on an open link", 4, func(s sample) bool { return s.layer >= 0 })

	if err := r.lab.SetRate(80_000); err != nil {
		t.Fatal(err)
	}
	r.mark("link limited to 80 kbit/s")
	limited := time.Now()
	paused := false
	for !paused && time.Since(limited) < 10*time.Second {
		time.Sleep(20 * time.Millisecond)
		st, _ := r.ts.sfu.RoomState("paused")
		for _, p := range st.Participants {
			for _, sub := range p.Subscriptions {
				paused = paused || sub.Kind == "video" && sub.Target < 0
			}
		}
	}
	if !paused {
		t.Fatal("the SFU did not pause the video within 10 s at 80 kbit/s")
	}
	t.Logf("80 kbit/s: video paused %v after the limit", time.Since(limited).Round(time.Millisecond))
	// What the link still held drains.
	r.measure(1500 * time.Millisecond)
	if w := r.measure(time.Second); w.fps() > 0 {
		t.Fatalf("%.1f fps while paused", w.fps())
	}

	if err := r.lab.SetRate(5_000_000); err != nil {
		t.Fatal(err)
	}
	r.mark("link opened to 5 Mbit/s")
	opened := time.Now()
	s := r.waitFor(20*time.Second, "video again at 5 Mbit/s", 2, func(s sample) bool { return s.layer >= 0 })
	back := s.at.Sub(opened)
	m := r.ts.metrics
	t.Logf("5 Mbit/s: video again after %v; probes: %v succeeded, %v failed", back.Round(time.Millisecond),
		testutil.ToFloat64(m.ProbesSucceeded), testutil.ToFloat64(m.ProbesFailed))
	if back > 15*time.Second {
		t.Errorf("video resumed %v after the link opened, want within 15 s", back.Round(time.Millisecond))
	}
}
