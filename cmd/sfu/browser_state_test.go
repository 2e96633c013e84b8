package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/signaling"
)

// restartableNode is a node that a test stops and starts again on the
// same address, as a server restart does.
type restartableNode struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	n    *node.Node
	done chan error // Serve's result
}

// startRestartable runs a node on addr ("127.0.0.1:0" for any port),
// calls of two on the SFU, and stops it when the test ends.
func startRestartable(t *testing.T, addr string) *restartableNode {
	t.Helper()
	r := &restartableNode{t: t, addr: addr}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartableNode) start() {
	r.t.Helper()
	cfg := nodetest.Config("127.0.0.1")
	cfg.Listen = r.addr
	sfuPath(&cfg)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.New(cfg, log)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = n.Addr().String()
	done := make(chan error, 1)
	go func() { done <- n.Serve() }()
	r.mu.Lock()
	r.n, r.done = n, done
	r.mu.Unlock()
}

// stop shuts the node down (telling its clients it goes away); Serve must
// return nil within 5 s. Safe to call twice.
func (r *restartableNode) stop() {
	r.mu.Lock()
	n, done := r.n, r.done
	r.n = nil
	r.mu.Unlock()
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		r.t.Errorf("shutdown of the node on %s: %v", r.addr, err)
	}
	select {
	case err := <-done:
		if err != nil {
			r.t.Errorf("serve on %s: %v", r.addr, err)
		}
	case <-ctx.Done():
		r.t.Errorf("serve on %s did not return after shutdown", r.addr)
	}
}

func (r *restartableNode) node() *node.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// openJoined navigates b to url and waits until the page joined, returning its
// participant ID.
func openJoined(t *testing.T, b *browser, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return waitJoined(t, b, "")
}

// waitJoined waits until b's page is in a session other than notID and
// returns its participant ID.
func waitJoined(t *testing.T, b *browser, notID string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if id := b.selfID(); id != "" && id != notID {
			return id
		}
		time.Sleep(100 * time.Millisecond)
	}
	state, _ := eval[string](b, `document.body.dataset.state || ""`)
	t.Fatalf("the page never joined (state %q)", state)
	return ""
}

// waitTrue polls the expression expr on b until it is true.
func waitTrue(t *testing.T, b *browser, what, expr string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, err := eval[bool](b, expr)
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			dump, _ := eval[string](b, `JSON.stringify({self: window.sfuDebug.client.self, participants: [...window.sfuDebug.client.participants.values()], tiles: [...document.querySelectorAll('.tile')].map((el) => ({...el.dataset}))})`)
			t.Fatalf("%s: not within %v (last error %v); page: %s", what, within, err, dump)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mutedAtJS is true when the page sees the participant named %q
// publish audio and video, both muted, in its participant data and on its
// tile.
const mutedAtJS = `(() => {
	const p = [...window.sfuDebug.client.participants.values()].find((p) => p.name === %q);
	if (!p || (p.tracks ?? []).length !== 2 || !p.tracks.every((t) => t.muted)) return false;
	const tile = document.querySelector('.tile[data-participant-id="' + p.id + '"]');
	return !!tile && 'videoMuted' in tile.dataset && 'audioMuted' in tile.dataset;
})()`

// TestBrowserMuteSurvivesRestart has page A stop its microphone and
// camera; the server restarts (a new node on the same address) and both
// pages reconnect by themselves. B must see A's audio and video muted
// (participant data and tile) on the new server, and the new server too; A's
// buttons still say muted and it sends the same tracks (devices) again;
// B's tile asks for the layer it asked for before (its small window wants
// the lowest); and A's unmute reaches B.
func TestBrowserMuteSurvivesRestart(t *testing.T) {
	exe := chromiumPath(t)
	srv := startRestartable(t, "127.0.0.1:0")
	const room = "restart-state"
	base := "http://" + srv.addr + "/room/" + room + "?prejoin=0&name="
	a := newBrowser(t, exe)
	b := newBrowser(t, exe, chromedp.WindowSize(480, 360))
	aID := openJoined(t, a, base+"Ada")
	bID := openJoined(t, b, base+"Bob")
	waitDecoding(t, b, "Bob", 1, []string{aID, bID}, time.Now())

	for _, id := range []string{"mic", "cam"} {
		if _, err := eval[bool](a, `(document.querySelector('#`+id+`').click(), true)`); err != nil {
			t.Fatal(err)
		}
	}
	waitTrue(t, b, "B sees A muted before the restart", fmt.Sprintf(mutedAtJS, "Ada"), 10*time.Second)
	// The layer B's tile asks for, from its height (tiles.js).
	wantLayer, err := eval[int](b, `(() => {
		const px = document.querySelector('.tile[data-participant-id]').clientHeight * (window.devicePixelRatio || 1);
		return px <= 180 ? 0 : px <= 360 ? 1 : 2;
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("B's tile for A asks for layer %d", wantLayer)

	// The tracks A captured (on the devices chosen) are those it sends again.
	const sentJS = `window.sfuDebug.client.peerConnection('publisher').getSenders().map((s) => s.track && s.track.id).sort().join(' ')`
	sentBefore, err := eval[string](a, sentJS)
	if err != nil {
		t.Fatal(err)
	}

	srv.stop()
	restarted := time.Now()
	srv.start()
	aID2 := waitJoined(t, a, aID)
	waitJoined(t, b, bID)
	waitTrue(t, b, "B sees A muted after the restart", fmt.Sprintf(mutedAtJS, "Ada"), 30*time.Second)
	t.Logf("B sees A's tracks muted again %v after the restart", time.Since(restarted).Round(time.Millisecond))

	pressed, err := eval[[]string](a, `['#mic', '#cam'].map((s) => document.querySelector(s).getAttribute('aria-pressed') + ' ' + document.querySelector(s).textContent)`)
	if err != nil {
		t.Fatal(err)
	}
	if len(pressed) != 2 || pressed[0] != "true Unmute mic" || pressed[1] != "true Start camera" {
		t.Errorf("A's buttons after the restart: %q, want both pressed (muted)", pressed)
	}
	if sent, _ := eval[string](a, sentJS); sent != sentBefore || sent == "" {
		t.Errorf("A sends tracks %q after the restart, %q before; want the same", sent, sentBefore)
	}
	enabled, err := eval[[]bool](a, `window.sfuDebug.localStream().getTracks().map((t) => t.enabled)`)
	if err != nil || len(enabled) != 2 || enabled[0] || enabled[1] {
		t.Errorf("A's local tracks enabled: %v (%v), want both disabled", enabled, err)
	}

	// The new server has A's tracks muted, and B's cap on A's video.
	deadline := time.Now().Add(10 * time.Second)
	for {
		state, _ := srv.node().SFU().RoomState(room)
		muted, layer := 0, -1
		for _, p := range state.Participants {
			for _, tr := range p.Published {
				if p.ID == aID2 && tr.Muted {
					muted++
				}
			}
			for _, s := range p.Subscriptions {
				if p.Name != "Ada" && s.From == aID2 && s.Kind == "video" {
					layer = s.MaxLayer
				}
			}
		}
		if muted == 2 && layer == wantLayer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new server: %d of A's tracks muted (want 2), B's cap on A's video %d (want %d)", muted, layer, wantLayer)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, err := eval[bool](a, `(document.querySelector('#mic').click(), true)`); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, b, "B sees A's audio unmuted", `(() => {
		const p = [...window.sfuDebug.client.participants.values()].find((p) => p.name === 'Ada');
		return !!p && p.tracks.some((t) => t.kind === 'audio' && !t.muted) && p.tracks.some((t) => t.kind === 'video' && t.muted);
	})()`, 10*time.Second)
}

// gumWatchJS, run before a page's own scripts, counts getUserMedia calls,
// those not settled yet, and keeps the tracks they gave.
const gumWatchJS = `(() => {
	const w = window.gum = { calls: 0, pending: 0, tracks: [] };
	w.live = () => w.tracks.filter((t) => t.readyState === 'live').length;
	const md = navigator.mediaDevices;
	if (!md) return;
	const orig = md.getUserMedia.bind(md);
	md.getUserMedia = async (c) => {
		w.calls++;
		w.pending++;
		try {
			const s = await orig(c);
			w.tracks.push(...s.getTracks());
			return s;
		} finally {
			w.pending--;
		}
	};
})()`

// TestBrowserNoCaptureWithoutSending opens pages that must not keep a
// camera or microphone: with a token the server rejects (joining at once,
// and after the pre-join screen) every track captured is stopped once the
// error shows, and the mic and camera buttons are hidden; with a watch-only
// token (sfu token --publish=false) the page skips the pre-join screen,
// never calls getUserMedia, shows no local tile nor mic and camera
// buttons, and decodes another page's video.
func TestBrowserNoCaptureWithoutSending(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	const room = "no-capture"
	b := newBrowser(t, exe)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: gumWatchJS})
		return err
	}))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	const hiddenJS = `document.querySelector('#mic').hidden && document.querySelector('#cam').hidden && document.querySelector('#local').hidden`
	for _, c := range []struct{ what, query, click string }{
		{"joining at once", "?prejoin=0&token=not.a.token", ""},
		{"after the pre-join screen", "?token=not.a.token", "#prejoin-join"},
	} {
		nav, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(nav, chromedp.Navigate(n.URL()+"room/"+room+c.query))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if c.click != "" {
			// The pre-join screen captured for its preview; Join is refused.
			waitTrue(t, b, c.what+": preview", `window.gum.live() > 0 && !!document.querySelector('`+c.click+`')`, 10*time.Second)
			if _, err := eval[bool](b, `(document.querySelector('`+c.click+`').click(), true)`); err != nil {
				t.Fatal(err)
			}
		}
		waitTrue(t, b, c.what+": fatal error shown", `document.body.dataset.state === 'error'`, 10*time.Second)
		waitTrue(t, b, c.what+": getUserMedia settled", `window.gum.pending === 0`, 10*time.Second)
		got, err := eval[[]int](b, `[window.gum.calls, window.gum.live()]`)
		if err != nil {
			t.Fatal(err)
		}
		hidden, _ := eval[bool](b, hiddenJS)
		status, _ := eval[string](b, `document.querySelector('#status').textContent`)
		t.Logf("%s: getUserMedia called %d times, %d tracks live; status %q", c.what, got[0], got[1], status)
		if got[1] != 0 || !hidden {
			t.Errorf("%s: %d tracks live after the error, controls hidden %v; want none live, hidden", c.what, got[1], hidden)
		}
	}

	tok, err := n.Keys().Mint("dev", signaling.TokenRequest{
		Room: room, Identity: "watcher", Name: "Wendy",
		Grants: signaling.Grants{Publish: false, Subscribe: true}, TTL: time.Hour,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub := newBrowser(t, exe)
	pubID := openJoined(t, pub, n.URL()+"room/"+room+"?prejoin=0&name=Pat")
	// No ?prejoin=0: a watch-only page skips the pre-join screen by itself.
	watchID := openJoined(t, b, n.URL()+"room/"+room+"?token="+tok)
	waitDecoding(t, b, "Wendy", 1, []string{pubID, watchID}, time.Now())
	got, err := eval[[]int](b, `[window.gum.calls, document.querySelectorAll('#prejoin').length]`)
	if err != nil {
		t.Fatal(err)
	}
	hidden, _ := eval[bool](b, hiddenJS)
	if got[0] != 0 || got[1] != 0 || !hidden {
		t.Errorf("watch-only page: getUserMedia called %d times, pre-join screens %d, local tile and controls hidden %v; want 0, 0, true", got[0], got[1], hidden)
	}
}

// frameLogJS logs, every 50 ms, the frames page decoded of the video of
// the participant %q: [epoch ms, framesDecoded] at each rise.
const frameLogJS = `(() => {
	const log = window.frameLog = [];
	let last = -1;
	setInterval(async () => {
		const report = await window.sfuDebug.inboundVideo();
		const frames = report.filter((s) => s.participantId === %q).reduce((n, s) => n + s.framesDecoded, 0);
		if (frames > last) log.push([performance.timeOrigin + performance.now(), frames]);
		last = frames;
	}, 50);
	return true;
})()`

// senderJS describes page's video sender and its publisher connection.
const senderJS = `(() => {
	const pc = window.sfuDebug.client.peerConnection('publisher');
	const s = pc.getSenders().find((s) => s.track && s.track.kind === 'video');
	return { deviceId: s.track.getSettings().deviceId, label: s.track.label, sdp: pc.localDescription.sdp };
})()`

// receiverJS describes page's subscriber connection: its receivers'
// track IDs and the server's latest offer.
const receiverJS = `(() => {
	const pc = window.sfuDebug.client.peerConnection('subscriber');
	return { deviceId: pc.getReceivers().map((r) => r.track.id).sort().join(' '), label: '', sdp: pc.remoteDescription.sdp };
})()`

type senderInfo struct {
	DeviceID string `json:"deviceId"`
	Label    string `json:"label"`
	SDP      string `json:"sdp"`
}

// TestBrowserPrejoinDevices opens the pre-join screen in a Chromium with
// fake cameras: the preview plays, the microphone level moves, the
// cameras are listed; another is picked and the page joins (the time
// from the click to the first frame decoded at the other page is logged).
// In the call the camera is switched back on the Devices panel: the other
// page keeps decoding with the same receivers and no new offer, the
// sender's device changed, and neither side renegotiated (the gap in
// frames decoded is logged). After a reload the pre-join screen has that
// camera selected again.
func TestBrowserPrejoinDevices(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	const room = "devices"
	q := newBrowser(t, exe)
	qID := openJoined(t, q, n.URL()+"room/"+room+"?prejoin=0&name=Quinn")
	p := newBrowser(t, exe, chromedp.Flag("use-fake-device-for-media-stream", "device-count=3"))
	url := n.URL() + "room/" + room + "?name=Pia"
	nav, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	err := chromedp.Do(nav, chromedp.Navigate(url))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	const previewJS = `(() => {
		const v = document.querySelector('#prejoin-video');
		return !!v && v.videoWidth > 0 && v.currentTime > 0 && !v.paused;
	})()`
	waitTrue(t, p, "the preview plays", previewJS, 10*time.Second)
	waitTrue(t, p, "the microphone level moves", `document.querySelector('#prejoin-level').value > 0`, 10*time.Second)
	if id := p.selfID(); id != "" {
		t.Fatalf("the page joined (%s) before Join was clicked", id)
	}
	type option struct{ Value, Label string }
	cams, err := eval[[]option](p, `[...document.querySelectorAll('#prejoin select[data-kind="videoinput"] option')].map((o) => ({value: o.value, label: o.textContent}))`)
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := eval[int](p, `navigator.mediaDevices.enumerateDevices().then((ds) => ds.filter((d) => d.kind === 'videoinput').length)`)
	if len(cams) < 2 || len(cams) != listed {
		t.Fatalf("pre-join lists cameras %v, enumerateDevices %d; want them all, at least 2", cams, listed)
	}
	// Chromium's fake cameras: 0 sends I420, 1 Y16 (a depth camera, which
	// its encoders refuse), 2 MJPEG. The test goes between 0 and 2.
	inUse := `document.querySelector('#prejoin-video').srcObject.getVideoTracks()[0].getSettings().deviceId`
	first, _ := eval[string](p, inUse)
	var other string
	for _, c := range cams {
		if c.Label == "fake_device_2" {
			other = c.Value
		}
	}
	if first == "" || other == "" || first == other {
		t.Fatalf("cameras %v, in use %q: want fake_device_2 and another in use", cams, first)
	}
	pick := func(b *browser, selector, deviceID string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change')); return s.value === %q; })()`, selector, deviceID, deviceID)
		if ok, err := eval[bool](b, js); err != nil || !ok {
			t.Fatalf("pick %s in %s: %v %v", deviceID, selector, ok, err)
		}
	}
	pick(p, `#prejoin select[data-kind="videoinput"]`, other)
	waitTrue(t, p, "the preview shows the camera picked", inUse+` === `+fmt.Sprintf("%q", other)+` && `+previewJS, 10*time.Second)

	if _, err := eval[bool](p, `(document.querySelector('#prejoin-join').click(), true)`); err != nil {
		t.Fatal(err)
	}
	clicked := time.Now()
	pID := waitJoined(t, p, "")
	var firstFrame time.Duration
	for firstFrame == 0 {
		got, err := q.decoded()
		if err != nil {
			t.Fatal(err)
		}
		if got[pID] > 0 {
			firstFrame = time.Since(clicked)
		} else if time.Since(clicked) > 20*time.Second {
			qs, _ := eval[string](q, `window.sfuDebug.inboundVideo().then((r) => JSON.stringify(r))`)
			ps, _ := eval[string](p, `(async () => { const pc = window.sfuDebug.client.peerConnection('publisher'); const out = []; (await pc.getStats()).forEach((s) => { if (s.type === 'outbound-rtp' || s.type === 'media-source') out.push([s.type, s.kind, s.framesEncoded, s.packetsSent, s.width, s.height]); }); return JSON.stringify({enc: pc.getSenders().map((s) => s.getParameters().encodings), state: pc.connectionState, tracks: pc.getSenders().map((s) => s.track && [s.track.kind, s.track.readyState, s.track.enabled, s.track.muted]), out}); })()`)
			lv, _ := eval[string](p, `(() => { const v = document.querySelector('#local video'); const tr = v.srcObject && v.srcObject.getVideoTracks()[0]; return JSON.stringify([v.videoWidth, v.currentTime, v.paused, tr && tr.getSettings(), tr && tr.label, window.sfuDebug.localStream().getTracks().map((t) => t.id)]); })()`)
			t.Fatalf("Quinn decoded nothing of Pia 20 s after Join: %v; %s; %s; local %s", got, qs, ps, lv)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("Join click to the first frame decoded at the other page: %v", firstFrame.Round(time.Millisecond))
	waitDecoding(t, q, "Quinn", 1, []string{pID, qID}, clicked)

	before, err := eval[senderInfo](p, senderJS)
	if err != nil {
		t.Fatal(err)
	}
	if before.DeviceID != other {
		t.Errorf("Pia sends camera %s, want %s, picked before joining", before.DeviceID, other)
	}
	recvBefore, err := eval[senderInfo](q, receiverJS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eval[bool](q, fmt.Sprintf(frameLogJS, pID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	switchAt, err := eval[float64](p, `performance.timeOrigin + performance.now()`)
	if err != nil {
		t.Fatal(err)
	}
	pick(p, `#devices select[data-kind="videoinput"]`, first)
	waitTrue(t, p, "Pia sends the camera switched to", fmt.Sprintf(`window.sfuDebug.client.peerConnection('publisher').getSenders().some((s) => s.track && s.track.kind === 'video' && s.track.getSettings().deviceId === %q)`, first), 10*time.Second)
	time.Sleep(2 * time.Second)
	after, err := eval[senderInfo](p, senderJS)
	if err != nil {
		t.Fatal(err)
	}
	recvAfter, err := eval[senderInfo](q, receiverJS)
	if err != nil {
		t.Fatal(err)
	}
	if after.DeviceID != first || after.Label == before.Label {
		t.Errorf("Pia's video sender: %s %q -> %s %q; want the device switched to %s", before.DeviceID, before.Label, after.DeviceID, after.Label, first)
	}
	if after.SDP != before.SDP {
		t.Errorf("Pia's publisher renegotiated at the switch")
	}
	if recvAfter != recvBefore {
		t.Errorf("Quinn's subscriber changed at the switch: receivers %q -> %q, offer changed %v", recvBefore.DeviceID, recvAfter.DeviceID, recvAfter.SDP != recvBefore.SDP)
	}
	frames, err := eval[[][2]float64](q, `window.frameLog`)
	if err != nil {
		t.Fatal(err)
	}
	gap, afterSwitch := 0.0, 0.0
	for i := 1; i < len(frames); i++ {
		if frames[i][0] < switchAt-500 {
			continue
		}
		gap = max(gap, frames[i][0]-frames[i-1][0])
		if frames[i][0] > switchAt {
			afterSwitch = frames[i][1] - frames[i-1][1] + afterSwitch
		}
	}
	t.Logf("camera switch: Pia's sender %q -> %q; the longest gap in frames decoded at Quinn %.0f ms (sampled every 50 ms), %.0f frames decoded in the 2 s after", before.Label, after.Label, gap, afterSwitch)
	if afterSwitch == 0 {
		t.Errorf("Quinn decoded no frame of Pia after the switch")
	}

	// Reload: the pre-join screen uses and shows the camera chosen last.
	nav, cancel = context.WithTimeout(p.ctx, 20*time.Second)
	err = chromedp.Do(nav, chromedp.Navigate(url))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	waitTrue(t, p, "after a reload, the pre-join screen has the camera chosen in the call", fmt.Sprintf(`%s && %s === %q && document.querySelector('#prejoin select[data-kind="videoinput"]').value === %q`, previewJS, inUse, first, first), 10*time.Second)
}
