package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// chromiumPath finds Debian's Chromium. Outside CI a missing browser skips
// the browser tests; in CI (CI=true) it fails them, because `make test`
// installs it.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found; `make deps` installs it")
	}
	t.Skip("chromium not found (Debian: apt-get install chromium); skipping browser test")
	return ""
}

// browser is one headless Chromium with a fake camera and microphone.
type browser struct {
	ctx    context.Context
	cancel func()
}

// newBrowser starts Chromium; extra options come after the defaults and
// override them.
func newBrowser(t *testing.T, exe string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1024, 768),
	)
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx, cancel: func() { cancel(); acancel() }}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		b.cancel()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(b.cancel)
	return b
}

// eval evaluates expr in the page, awaiting a promise, into T.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

type inbound struct {
	ParticipantID string  `json:"participantId"`
	FramesDecoded float64 `json:"framesDecoded"`
}

// decoded maps each remote participant to the frames decoded from it.
func (b *browser) decoded() (map[string]float64, error) {
	stats, err := eval[[]inbound](b, `window.sfuDebug ? window.sfuDebug.inboundVideo() : []`)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range stats {
		if s.ParticipantID != "" {
			out[s.ParticipantID] += s.FramesDecoded
		}
	}
	return out, nil
}

func (b *browser) selfID() string {
	id, _ := eval[string](b, `(window.sfuDebug && window.sfuDebug.client.self) ? window.sfuDebug.client.self.id : ""`)
	return id
}

func (b *browser) tiles() []string {
	ids, _ := eval[[]string](b, `window.sfuDebug ? window.sfuDebug.tiles() : []`)
	return ids
}

// pageDiagnosis says what a page that did not join did: whether its
// scripts ran, its state and status line, and the requests it finished,
// with how long each took (one still pending is not listed).
func pageDiagnosis(b *browser) string {
	d, err := eval[string](b, `(() => {
		const res = performance.getEntriesByType('resource').map((e) => e.name.replace(location.origin, '') + ' ' + Math.round(e.duration) + ' ms');
		return 'scripts ran: ' + !!window.sfuDebug + '; state ' + (document.body.dataset.state || '') +
			'; status "' + (document.querySelector('#status')?.textContent ?? '') + '"; requests done: ' + res.join(', ');
	})()`)
	if err != nil {
		return "page not readable: " + err.Error()
	}
	return d
}

// server is a node under test, in this process (*node.Node) or in its
// own (p2pServer).
type server interface{ URL() string }

// joinRoom opens the web client for each name in room and returns the
// browsers, their participant IDs and when each page was opened.
func joinRoom(t *testing.T, exe string, n server, room string, names []string, query string) ([]*browser, []string, []time.Time) {
	t.Helper()
	browsers := make([]*browser, len(names))
	opened := make([]time.Time, len(names))
	for i, name := range names {
		browsers[i] = newBrowser(t, exe)
		opened[i] = time.Now()
		url := fmt.Sprintf("%sroom/%s?prejoin=0&name=%s%s", n.URL(), room, name, query)
		ctx, cancel := context.WithTimeout(browsers[i].ctx, 20*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		cancel()
		if err != nil {
			t.Fatalf("%s: open %s: %v", name, url, err)
		}
	}
	ids := make([]string, len(names))
	deadline := time.Now().Add(30 * time.Second)
	for i, b := range browsers {
		for ids[i] == "" && time.Now().Before(deadline) {
			ids[i] = b.selfID()
			time.Sleep(100 * time.Millisecond)
		}
		if ids[i] == "" {
			t.Fatalf("%s never joined: %s", names[i], pageDiagnosis(b))
		}
	}
	return browsers, ids, opened
}

// waitDecoding waits until browser i decodes video from every other
// participant and the frame counts keep rising. It returns how long after
// since the first frames from all of them had been decoded.
func waitDecoding(t *testing.T, b *browser, name string, self int, ids []string, since time.Time) time.Duration {
	t.Helper()
	var last map[string]float64
	var first time.Duration
	deadline := time.Now().Add(45 * time.Second)
	for {
		got, err := b.decoded()
		if err != nil {
			t.Fatalf("%s: stats: %v", name, err)
		}
		all, rising := true, last != nil
		for j, id := range ids {
			if j == self {
				continue
			}
			if got[id] <= 0 {
				all = false
			}
			if last == nil || got[id] <= last[id] {
				rising = false
			}
		}
		if all && first == 0 {
			first = time.Since(since)
		}
		if all && rising {
			t.Logf("%s decodes %v (first frames from all others %v after page load)", name, got, first.Round(time.Millisecond))
			return first
		}
		if all {
			last = got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s decoded %v; want rising frame counts from %v", name, got, ids)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// sfuPath keeps a node's calls of two on the SFU: the tests that use it
// measure what the SFU forwards (peer to peer has its own, in
// browser_p2p_test.go).
func sfuPath(c *node.Config) { c.SFU.P2P.Enabled = false }

// TestBrowsersSeeEachOther opens the real web client in three headless
// Chromium browsers on one room: each must decode the video of the other
// two, and when one leaves the other two must drop its tile.
func TestBrowsersSeeEachOther(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	names := []string{"Ada", "Grace", "Linus"}
	browsers, ids, opened := joinRoom(t, exe, n, "browser-test", names, "")
	for i, b := range browsers {
		waitDecoding(t, b, names[i], i, ids, opened[i])
	}

	// SFU_SCREENSHOT=file.png saves what Ada sees, to look at by eye.
	if path := os.Getenv("SFU_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(browsers[0].ctx, chromedp.CaptureScreenshot())
		if err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
		if err != nil {
			t.Logf("screenshot: %v", err)
		}
	}

	// Linus leaves; Ada and Grace drop his tile.
	leaveCtx, cancel := context.WithTimeout(browsers[2].ctx, 10*time.Second)
	if err := chromedp.Do(leaveCtx, chromedp.Click(chromedp.ID("leave"))); err != nil {
		t.Fatalf("click leave: %v", err)
	}
	cancel()
	left := time.Now()
	for i, b := range browsers[:2] {
		for {
			present := false
			for _, id := range b.tiles() {
				if id == ids[2] {
					present = true
				}
			}
			if !present {
				t.Logf("%s dropped %s's tile after %v", names[i], names[2], time.Since(left).Round(time.Millisecond))
				break
			}
			if time.Since(left) > 5*time.Second {
				t.Fatalf("%s still shows %s's tile 5 s after leave", names[i], names[2])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestBrowserCodecs has publishers prefer VP9 and H.264: the SFU forwards
// what they send, and subscribers decode it in that codec.
func TestBrowserCodecs(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	for _, codec := range []string{"vp9", "h264"} {
		t.Run(codec, func(t *testing.T) {
			names := []string{"Pub-" + codec, "Sub-" + codec}
			browsers, ids, opened := joinRoom(t, exe, n, "codec-"+codec, names, "&codec="+codec)
			has, err := eval[bool](browsers[0], `RTCRtpSender.getCapabilities('video').codecs.some(c => c.mimeType.toLowerCase() === 'video/`+codec+`')`)
			if err != nil {
				t.Fatal(err)
			}
			if !has {
				t.Skipf("this Chromium cannot encode %s", codec)
			}
			waitDecoding(t, browsers[1], names[1], 1, ids, opened[1])
			mime, err := eval[string](browsers[1], `(async () => {
				const stats = await window.sfuDebug.client.peerConnection('subscriber').getStats();
				for (const s of stats.values()) {
					if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0) return stats.get(s.codecId)?.mimeType ?? '';
				}
				return '';
			})()`)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(mime, "video/"+codec) {
				t.Errorf("subscriber decodes %q, want video/%s", mime, codec)
			}
			// H.264 and VP9 are simulcast like VP8: the SFU receives three
			// layers (for VP9 the web client names scalabilityMode L1T3 on
			// each encoding; without it Chromium sends the first only).
			layers := 0
			// Chromium adds layers as its bandwidth estimate grows.
			for start := time.Now(); layers < 3 && time.Since(start) < 15*time.Second; time.Sleep(250 * time.Millisecond) {
				state, _ := n.SFU().RoomState("codec-" + codec)
				for _, p := range state.Participants {
					for _, tr := range p.Published {
						if tr.Kind == "video" {
							layers = len(tr.Layers)
						}
					}
				}
			}
			t.Logf("%s: the SFU receives %d simulcast layers", codec, layers)
			if layers != 3 {
				t.Errorf("%s publisher sends %d layers, want 3", codec, layers)
			}
		})
	}
}

// TestBrowserSimulcast has Chromium publish 1280x720 as three simulcast
// layers: the subscriber gets the layer that fits the tile it shows, and
// the layer it asks for with set_layer, within a few seconds, decoding all
// along.
func TestBrowserSimulcast(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	names := []string{"Pub", "Sub"}
	browsers, ids, opened := joinRoom(t, exe, n, "simulcast", names, "")
	sub := browsers[1]
	waitDecoding(t, sub, names[1], 1, ids, opened[1])

	frameHeight := func() int {
		h, _ := eval[int](sub, `(async () => {
			const stats = await window.sfuDebug.client.peerConnection('subscriber').getStats();
			for (const s of stats.values()) {
				if (s.type === 'inbound-rtp' && s.kind === 'video' && s.frameHeight) return s.frameHeight;
			}
			return 0;
		})()`)
		return h
	}
	// pubTop is the tallest layer the publisher is sending right now:
	// under CPU or uplink pressure Chromium stops encoding its top layer,
	// and the SFU cannot forward what it does not get.
	pubTop := func() int {
		h, _ := eval[int](browsers[0], `(async () => {
			const stats = await window.sfuDebug.client.peerConnection('publisher').getStats();
			let top = 0;
			for (const s of stats.values()) {
				if (s.type === 'outbound-rtp' && s.kind === 'video' && s.framesPerSecond > 0 && s.frameHeight > top) top = s.frameHeight;
			}
			return top;
		})()`)
		return h
	}
	// waitHeight waits for the subscriber to receive layer's resolution,
	// or the publisher's tallest if that is lower.
	waitHeight := func(what string, layer int, within time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			h, want := frameHeight(), 720>>(2-layer)
			if top := pubTop(); top > 0 && top < want {
				want = top
			}
			if h == want {
				t.Logf("%s: receiving %dp after %v", what, h, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > within {
				state, _ := n.SFU().RoomState("simulcast")
				dump, _ := json.Marshal(state)
				t.Fatalf("%s: receiving %dp after %v, want %dp; room: %s", what, h, within, want, dump)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Chromium drops its top layer when it thinks its CPU is overloaded,
	// which a test machine running several browsers often is: ask it to
	// keep resolution (and lower the frame rate instead), then wait until
	// the publisher sends all three layers.
	keepResolution(t, browsers[0])
	// How soon it does is Chromium's bandwidth estimate and CPU check,
	// slow on a busy 2-core machine running the whole suite: up to a
	// minute.
	for start := time.Now(); pubTop() != 720; time.Sleep(250 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("the publisher never sent its 720p layer (tallest: %dp)", pubTop())
		}
	}
	trackID, err := eval[string](sub, `[...window.sfuDebug.client.participants.values()][0].tracks.find(t => t.kind === 'video').id`)
	if err != nil {
		t.Fatal(err)
	}
	tile, err := eval[float64](sub, `document.querySelector('.tile[data-participant-id="`+ids[0]+`"] video').clientHeight * (window.devicePixelRatio || 1)`)
	if err != nil {
		t.Fatal(err)
	}
	auto := 2
	switch {
	case tile <= 180:
		auto = 0
	case tile <= 360:
		auto = 1
	}
	waitHeight(fmt.Sprintf("tile %.0f px high, layer %d", tile, auto), auto, 20*time.Second)
	for _, layer := range []int{0, 2, 1} {
		if _, err := eval[bool](sub, fmt.Sprintf(`(window.sfuDebug.client.setLayer(%q, %d), true)`, trackID, layer)); err != nil {
			t.Fatal(err)
		}
		waitHeight(fmt.Sprintf("set_layer %d", layer), layer, 20*time.Second)
	}
	waitDecoding(t, sub, names[1], 1, ids, opened[1])

	// Dynacast: with the only subscriber capped to the lowest layer, the
	// publisher stops encoding the other two, and resumes when asked.
	pubActive := func() map[string]bool {
		m, _ := eval[map[string]bool](browsers[0], `(async () => {
			const pc = window.sfuDebug.client.peerConnection('publisher');
			const sender = pc.getSenders().find(s => s.track && s.track.kind === 'video');
			const out = {};
			for (const e of sender.getParameters().encodings) out[e.rid] = e.active;
			return out;
		})()`)
		return m
	}
	waitActive := func(what string, want map[string]bool) {
		t.Helper()
		start := time.Now()
		for {
			got := pubActive()
			if got["q"] == want["q"] && got["h"] == want["h"] && got["f"] == want["f"] {
				t.Logf("%s: publisher encodings %v after %v", what, got, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: publisher encodings %v, want %v", what, got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if _, err := eval[bool](sub, fmt.Sprintf(`(window.sfuDebug.client.setLayer(%q, 0), true)`, trackID)); err != nil {
		t.Fatal(err)
	}
	waitActive("only the lowest layer wanted", map[string]bool{"q": true, "h": false, "f": false})
	if _, err := eval[bool](sub, fmt.Sprintf(`(window.sfuDebug.client.setLayer(%q, 2), true)`, trackID)); err != nil {
		t.Fatal(err)
	}
	waitActive("top layer wanted again", map[string]bool{"q": true, "h": true, "f": true})
	for start := time.Now(); pubTop() != 720; time.Sleep(250 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the publisher did not resume its 720p layer (tallest: %dp)", pubTop())
		}
	}
	waitHeight("after dynacast resumed the top layer", 2, 20*time.Second)
}

// keepResolution asks page's camera sender to keep its resolution under
// CPU pressure (lowering the frame rate instead): Chromium otherwise drops
// its upper simulcast layers on a busy test machine.
func keepResolution(t *testing.T, page *browser) {
	t.Helper()
	if _, err := eval[bool](page, `(async () => {
		const s = window.sfuDebug.client.peerConnection('publisher').getSenders().find(s => s.track && s.track.kind === 'video');
		const p = s.getParameters();
		p.degradationPreference = 'maintain-resolution';
		await s.setParameters(p);
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
}
