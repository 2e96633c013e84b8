package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/loadtest"
)

// The rate-limit scenario of signaling's TestRateLimitedSubscriber with the
// real web client at both ends: the sfu binary runs inside a network
// namespace (loadtest.Lab), two headless Chromiums in the root namespace
// reach it over the lab's veth pair, and what the SFU sends toward them is
// slowed down with a token bucket on the namespace side (SetEgressRate).
// The publisher's uplink stays open.
//
// Pub opens the page with the namespace's origin treated as secure, so it
// gets the fake camera and publishes 1280x720 as three simulcast layers.
// Sub opens it without, so the web client finds no camera on an insecure
// origin and joins as a viewer: only Pub's video (and the small feedback
// toward Pub) crosses the limited link, as in the Go test.

const (
	rateLimitRoom = "ratelimit"
	labHTTPPort   = 7880 // the namespace is new: the defaults are free
	labUDPPort    = 7882
	statsInterval = 250 * time.Millisecond
)

// labServer is the sfu binary running inside a Lab.
type labServer struct {
	base   string // http://NSIP:PORT/
	stderr lockedBuffer
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLabServer builds the sfu binary and runs it in development mode
// inside lab, on the namespace's address only: ICE candidates from outside
// the lab's /30 are ignored, so media takes the veth pair. extra flags
// come last.
func startLabServer(t *testing.T, lab *loadtest.Lab, extra ...string) *labServer {
	t.Helper()
	dir := t.TempDir()
	bin := sfuBinary(t)
	cfg := filepath.Join(dir, "sfu.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("sfu:\n  remote_networks: [%q]\n", lab.Net.String())), 0o600); err != nil {
		t.Fatal(err)
	}
	ip := lab.NSIP.String()
	listen := net.JoinHostPort(ip, fmt.Sprint(labHTTPPort))
	s := &labServer{base: "http://" + listen + "/"}
	cmd := lab.Command(context.Background(), bin, append([]string{"--listen", listen, "--udp-port", fmt.Sprint(labUDPPort),
		"--node-ip", ip, "--dev", "--config", cfg, "--log", logLevel()}, extra...)...)
	cmd.Stdout = io.Discard
	cmd.Stderr = &s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // ip netns exec execs the binary: this is the sfu
		<-done
		if t.Failed() || os.Getenv("SFU_STDERR") != "" {
			t.Logf("sfu stderr:\n%s", s.stderr.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if body, err := s.get("healthz"); err == nil && strings.TrimSpace(body) == "ok" {
			return s
		}
		select {
		case <-done:
			t.Fatalf("sfu exited: %s", s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sfu in %s not healthy after 10 s: %s", lab.Name, s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *labServer) get(path string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(s.base + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /%s: %s: %s", path, resp.Status, body)
	}
	return string(body), nil
}

// roomSummary is the part of /debug/rooms/NAME logged at each step: each
// participant's estimate and its video subscriptions' layers, and the
// bitrate of each published layer.
// untilForwarding polls the room's state until the SFU forwards layer of
// the video subscription, and returns when (a time past the timeout when
// it never did).
func (s *labServer) untilForwarding(room string, layer int, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		body, err := s.get("debug/rooms/" + room)
		if err == nil {
			var state struct {
				Participants []struct {
					Subscriptions []struct {
						Kind    string `json:"kind"`
						Current int    `json:"current_layer"`
					} `json:"subscriptions"`
				} `json:"participants"`
			}
			if json.Unmarshal([]byte(body), &state) == nil {
				for _, p := range state.Participants {
					for _, sub := range p.Subscriptions {
						if sub.Kind == "video" && sub.Current == layer {
							return time.Now()
						}
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Now().Add(time.Hour)
}

func (s *labServer) roomSummary(room string) string {
	body, err := s.get("debug/rooms/" + room)
	if err != nil {
		return err.Error()
	}
	var state struct {
		Participants []struct {
			Name         string  `json:"name"`
			EstimateBps  int64   `json:"estimate_bps"`
			QueueDelayMs float64 `json:"queue_delay_ms"`
			LossPct      float64 `json:"loss_pct"`
			Published    []struct {
				Kind   string `json:"kind"`
				Layers []struct {
					RID        string `json:"rid"`
					BitrateBps int64  `json:"bitrate_bps"`
					Active     bool   `json:"active"`
					Paused     bool   `json:"paused_by_dynacast"`
				} `json:"layers"`
			} `json:"published"`
			Subscriptions []struct {
				Kind     string `json:"kind"`
				Current  int    `json:"current_layer"`
				Target   int    `json:"target_layer"`
				MaxLayer int    `json:"max_layer"`
			} `json:"subscriptions"`
		} `json:"participants"`
	}
	if err := json.Unmarshal([]byte(body), &state); err != nil {
		return err.Error() + ": " + body
	}
	var parts []string
	for _, p := range state.Participants {
		line := fmt.Sprintf("%s: estimate %.0f kbit/s, queue delay %.0f ms, loss %.1f%%",
			p.Name, float64(p.EstimateBps)/1000, p.QueueDelayMs, p.LossPct)
		for _, sub := range p.Subscriptions {
			if sub.Kind == "video" {
				line += fmt.Sprintf(", video layer current %d target %d max %d", sub.Current, sub.Target, sub.MaxLayer)
			}
		}
		for _, pub := range p.Published {
			if pub.Kind != "video" {
				continue
			}
			line += ", publishes"
			for _, l := range pub.Layers {
				line += fmt.Sprintf(" %s=%.0fk", l.RID, float64(l.BitrateBps)/1000)
				if !l.Active {
					line += "(no packets)"
				}
				if l.Paused {
					line += "(paused by dynacast)"
				}
			}
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ")
}

// newLabBrowser is newBrowser with a window large enough for a 720p tile
// and, when secureOrigin is set, that origin treated as secure so that the
// page gets the fake camera over plain http on a non-loopback address.
func newLabBrowser(t *testing.T, exe, secureOrigin string) *browser {
	t.Helper()
	extra := []chromedp.ExecAllocatorOption{chromedp.WindowSize(1600, 1000)}
	if secureOrigin != "" {
		extra = append(extra, chromedp.Flag("unsafely-treat-insecure-origin-as-secure", secureOrigin))
	}
	return newBrowser(t, exe, extra...)
}

// videoSample is the subscriber's inbound video at one moment.
type videoSample struct {
	at     time.Time
	Height int     `json:"height"`
	Frames float64 `json:"frames"`
	Bytes  float64 `json:"bytes"`
	// Chromium's own freeze and repair statistics, for the log.
	Freezes      float64 `json:"freezes"`
	FreezeTotalS float64 `json:"freezeTotal"`
	Lost         float64 `json:"lost"`
	NACKs        float64 `json:"nacks"`
	PLIs         float64 `json:"plis"`
	KeyFrames    float64 `json:"keyFrames"`
	Received     float64 `json:"received"` // frames assembled
	Dropped      float64 `json:"dropped"`
}

const videoSampleJS = `(async () => {
	const pc = window.sfuDebug.client.peerConnection('subscriber');
	const out = { height: 0, frames: 0, bytes: 0, freezes: 0, freezeTotal: 0, lost: 0, nacks: 0, plis: 0, keyFrames: 0, received: 0, dropped: 0 };
	if (!pc) return out;
	for (const s of (await pc.getStats()).values()) {
		if (s.type !== 'inbound-rtp' || s.kind !== 'video') continue;
		out.height = s.frameHeight ?? 0;
		out.frames = s.framesDecoded ?? 0;
		out.bytes = s.bytesReceived ?? 0;
		out.freezes = s.freezeCount ?? 0;
		out.freezeTotal = s.totalFreezesDuration ?? 0;
		out.lost = s.packetsLost ?? 0;
		out.nacks = s.nackCount ?? 0;
		out.plis = s.pliCount ?? 0;
		out.keyFrames = s.keyFramesDecoded ?? 0;
		out.received = s.framesReceived ?? 0;
		out.dropped = s.framesDropped ?? 0;
	}
	return out;
})()`

// videoWatch samples the subscriber every statsInterval and keeps every
// sample, to measure phases and to log if the test fails.
type videoWatch struct {
	t       *testing.T
	b       *browser
	pub     *browser
	srv     *labServer
	samples []videoSample
	trace   []string
}

func (w *videoWatch) sample() videoSample {
	w.t.Helper()
	s, err := eval[videoSample](w.b, videoSampleJS)
	if err != nil {
		w.t.Fatalf("Sub: stats: %v", err)
	}
	s.at = time.Now()
	w.samples = append(w.samples, s)
	w.trace = append(w.trace, fmt.Sprintf("%s %dp frames %.0f decoded (%.0f key) %.0f received %.0f dropped, bytes %.0f lost %.0f NACKs %.0f PLIs %.0f freezes %.0f (%.1f s)",
		s.at.Format("15:04:05.000"), s.Height, s.Frames, s.KeyFrames, s.Received, s.Dropped, s.Bytes, s.Lost, s.NACKs, s.PLIs, s.Freezes, s.FreezeTotalS))
	// The SFU's view when the received layer changes: a few small requests
	// over the link under test.
	if n := len(w.samples); n > 1 && w.samples[n-2].Height != s.Height {
		w.trace = append(w.trace, "    SFU: "+w.srv.roomSummary(rateLimitRoom))
	}
	return s
}

func (w *videoWatch) mark(what string) {
	w.trace = append(w.trace, fmt.Sprintf("%s --- %s", time.Now().Format("15:04:05.000"), what))
}

// until samples until cond holds, or fails the test after within.
func (w *videoWatch) until(what string, within time.Duration, cond func(videoSample) bool) videoSample {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := w.sample()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: still receiving %dp after %v; SFU: %s; Pub's encoder: %s", what, s.Height, within, w.srv.roomSummary(rateLimitRoom), w.publisherState())
		}
		time.Sleep(statsInterval)
	}
}

// publisherState says, per simulcast encoding of Pub's video, whether it
// is switched on and what Chromium sends on it.
func (w *videoWatch) publisherState() string {
	state, err := eval[string](w.pub, `(async () => {
		const pc = window.sfuDebug.client.peerConnection('publisher');
		const sender = pc.getSenders().find(s => s.track && s.track.kind === 'video');
		const active = {};
		for (const e of sender.getParameters().encodings) active[e.rid] = e.active;
		const out = [];
		for (const s of (await pc.getStats()).values()) {
			if (s.type !== 'outbound-rtp' || s.kind !== 'video') continue;
			out.push(s.rid + ': active ' + active[s.rid] + ', ' + (s.frameHeight ?? 0) + 'p, ' + (s.framesSent ?? 0) + ' frames sent, limited by ' + s.qualityLimitationReason);
		}
		return out.sort().join('; ');
	})()`)
	if err != nil {
		return err.Error()
	}
	return state
}

// collect samples for d.
func (w *videoWatch) collect(d time.Duration) {
	w.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		w.sample()
		time.Sleep(statsInterval)
	}
}

// stopped is how long the frames decoded have not risen, at the newest
// sample.
func (w *videoWatch) stopped() time.Duration {
	n := len(w.samples)
	if n == 0 {
		return 0
	}
	last := w.samples[n-1]
	for i := n - 2; i >= 0; i-- {
		if w.samples[i].Frames < last.Frames {
			return last.at.Sub(w.samples[i+1].at)
		}
	}
	return last.at.Sub(w.samples[0].at)
}

// span summarises the samples taken in [from, to).
type span struct {
	dur     time.Duration
	frames  float64
	kbps    float64
	heights map[int]int // samples per received height
	// sequence is the heights in order, repeats removed.
	sequence []int
	// longestStop is the longest time the frames decoded did not rise; a
	// stop that began before from counts from its beginning.
	longestStop time.Duration
	// Chromium's count and total duration of freezes within the span.
	freezes      float64
	freezeTotalS float64
}

func (w *videoWatch) between(from, to time.Time) span {
	sp := span{heights: map[int]int{}}
	var first, prev *videoSample
	var lastRise time.Time
	for i := range w.samples {
		s := &w.samples[i]
		if i == 0 || s.Frames > w.samples[i-1].Frames {
			lastRise = s.at
		}
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		sp.heights[s.Height]++
		if len(sp.sequence) == 0 || sp.sequence[len(sp.sequence)-1] != s.Height {
			sp.sequence = append(sp.sequence, s.Height)
		}
		sp.longestStop = max(sp.longestStop, s.at.Sub(lastRise))
		if first == nil {
			first = s
		}
		prev = s
	}
	if first != nil {
		sp.dur = prev.at.Sub(first.at)
		sp.frames = prev.Frames - first.Frames
		if sp.dur > 0 {
			sp.kbps = 8 * (prev.Bytes - first.Bytes) / sp.dur.Seconds() / 1000
		}
		sp.freezes, sp.freezeTotalS = prev.Freezes-first.Freezes, prev.FreezeTotalS-first.FreezeTotalS
	}
	return sp
}

func (sp span) fps() float64 {
	if sp.dur <= 0 {
		return 0
	}
	return sp.frames / sp.dur.Seconds()
}

func (sp span) String() string {
	hs := make([]int, 0, len(sp.heights))
	for h := range sp.heights {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	var per []string
	for _, h := range hs {
		per = append(per, fmt.Sprintf("%dp×%d", h, sp.heights[h]))
	}
	return fmt.Sprintf("%.1f fps, %.0f kbit/s received, heights %v (samples per height %s), longest stop in decoding %v, Chromium counts %.0f freezes (%.1f s)",
		sp.fps(), sp.kbps, sp.sequence, strings.Join(per, " "), sp.longestStop.Round(time.Millisecond), sp.freezes, sp.freezeTotalS)
}

// TestBrowserRateLimited is TestRateLimitedSubscriber with headless
// Chromium at both ends and the real binary in between: at 350 kbit/s
// toward the subscriber, the SFU must step it down to the lowest simulcast
// layer (180p, shown within 2 s) with its video still decoding (no stop
// over 2 s), and after
// the link opens to 5 Mbit/s bring 720p back within 15 s.
func TestBrowserRateLimited(t *testing.T) {
	exe := chromiumPath(t)
	lab := loadtest.NewTestLab(t)
	srv := startLabServer(t, lab, "--p2p=false") // the SFU's adaptation to the link is what is measured
	origin := strings.TrimSuffix(srv.base, "/")

	names := []string{"Pub", "Sub"}
	browsers := []*browser{newLabBrowser(t, exe, origin), newLabBrowser(t, exe, "")}
	opened := make([]time.Time, len(names))
	for i, b := range browsers {
		opened[i] = time.Now()
		url := fmt.Sprintf("%sroom/%s?prejoin=0&name=%s", srv.base, rateLimitRoom, names[i])
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		cancel()
		if err != nil {
			t.Fatalf("%s: open %s: %v", names[i], url, err)
		}
	}
	ids := make([]string, len(names))
	for i, b := range browsers {
		// 40 s: a page stuck in "connecting" for over 20 s failed two CI
		// runs, for a reason not known yet; the page gives a token request
		// or a join that hangs up after 10 s and tries again, and this
		// test is about the link, not the join.
		for deadline := time.Now().Add(40 * time.Second); ids[i] == ""; time.Sleep(100 * time.Millisecond) {
			if ids[i] = b.selfID(); ids[i] == "" && time.Now().After(deadline) {
				t.Fatalf("%s never joined: %s", names[i], pageDiagnosis(b))
			}
		}
		if took := time.Since(opened[i]); took > 10*time.Second {
			t.Logf("%s joined only %v after its page was opened: %s", names[i], took.Round(time.Millisecond), pageDiagnosis(b))
		}
	}
	sub := browsers[1]
	w := &videoWatch{t: t, b: sub, pub: browsers[0], srv: srv}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Sub's inbound video every %v:\n%s", statsInterval, strings.Join(w.trace, "\n"))
		}
	})
	waitDecoding(t, sub, names[1], 1, ids, opened[1])

	// The web client caps each tile at the layer its size needs; the window
	// is large enough for 720p, and asking for the top layer makes sure.
	trackID, err := eval[string](sub, `[...window.sfuDebug.client.participants.values()][0].tracks.find(t => t.kind === 'video').id`)
	if err != nil {
		t.Fatal(err)
	}
	tile, _ := eval[float64](sub, `document.querySelector('.tile[data-participant-id="`+ids[0]+`"] video').clientHeight * (window.devicePixelRatio || 1)`)
	if _, err := eval[bool](sub, fmt.Sprintf(`(window.sfuDebug.client.setLayer(%q, 2), true)`, trackID)); err != nil {
		t.Fatal(err)
	}
	w.mark("open link")
	top := w.until("open link", 20*time.Second, func(s videoSample) bool { return s.Height == 720 })
	t.Logf("open link: Sub receives 720p %v after opening the page (tile %.0f px high); SFU: %s",
		top.at.Sub(opened[1]).Round(time.Millisecond), tile, srv.roomSummary(rateLimitRoom))
	w.collect(2 * time.Second)
	t.Logf("open link: %v", w.between(top.at, time.Now()))

	if err := lab.SetEgressRate(350_000); err != nil {
		t.Fatal(err)
	}
	w.mark("350 kbit/s")
	limited := time.Now()
	switched := make(chan time.Duration, 1)
	go func() { switched <- srv.untilForwarding(rateLimitRoom, 0, 5*time.Second).Sub(limited) }()
	low := w.until("350 kbit/s", 15*time.Second, func(s videoSample) bool { return s.Height == 180 })
	sfuAfter := <-switched
	t.Logf("350 kbit/s from %s: the SFU forwarded 180p at most %v after the limit, Sub showed it after %v; on the way: %v",
		limited.UTC().Format("15:04:05.000"), sfuAfter.Round(time.Millisecond), low.at.Sub(limited).Round(time.Millisecond), w.between(limited, low.at))
	// What Sub shows is asserted; the poll of the SFU's own switch only
	// logged, since its answer queues behind the video on the limited link
	// (TestRateLimitedSubscriber asserts the SFU's 2 s in process).
	if d := low.at.Sub(limited); d > 2*time.Second {
		t.Errorf("Sub showed 180p %v after the limit, want within 2 s", d.Round(time.Millisecond))
	}
	w.collect(5 * time.Second)
	// A stop in progress is measured to its end, or past the 2 s allowed.
	for d := w.stopped(); d > 0 && d <= 2*time.Second; d = w.stopped() {
		w.collect(statsInterval)
	}
	settled := w.between(low.at, time.Now())
	t.Logf("350 kbit/s, the %v after reaching 180p: %v; SFU: %s", settled.dur.Round(time.Millisecond), settled, srv.roomSummary(rateLimitRoom))
	if settled.frames <= 0 || settled.longestStop > 2*time.Second {
		t.Errorf("at 350 kbit/s after stepping down, %.0f frames decoded in %v and decoding stopped for up to %v, want rising frames with no stop over 2 s",
			settled.frames, settled.dur.Round(time.Millisecond), settled.longestStop.Round(time.Millisecond))
	}

	if err := lab.SetEgressRate(5_000_000); err != nil {
		t.Fatal(err)
	}
	w.mark("5 Mbit/s")
	openedUp := time.Now()
	back := w.until("5 Mbit/s", 20*time.Second, func(s videoSample) bool { return s.Height == 720 })
	climb := back.at.Sub(openedUp)
	t.Logf("5 Mbit/s: back on 720p after %v; on the way: %v; SFU: %s", climb.Round(time.Millisecond), w.between(openedUp, time.Now()), srv.roomSummary(rateLimitRoom))
	if climb > 15*time.Second {
		t.Errorf("720p came back %v after the link opened to 5 Mbit/s, want within 15 s", climb.Round(time.Millisecond))
	}
}

// logLevel is the lab SFU's log level: warn, or SFU_LOG when set (the
// log is printed when the test fails or SFU_STDERR is set).
func logLevel() string {
	if l := os.Getenv("SFU_LOG"); l != "" {
		return l
	}
	return "warn"
}
