package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// p2pDelay is how long the test's room stays at two after being larger
// before it goes peer to peer again (10 s by default).
const p2pDelay = 2 * time.Second

// maxSwitchGap is the longest a page may go without a new frame of the
// other's video across a switch of path, less the time either browser was
// held up by the machine (measureGaps). The fake camera sends 30 frames a
// second; a page that swapped before the new path's media played shows a
// frozen picture for the new path's first keyframe.
const maxSwitchGap = 500 * time.Millisecond

// loopbackOnlyJS keeps a page's connections to loopback: remote ICE
// candidates on other addresses are dropped before the browser sees them,
// so two browsers on this machine connect directly over 127.0.0.1.
const loopbackOnlyJS = `(() => {
	const add = RTCPeerConnection.prototype.addIceCandidate;
	RTCPeerConnection.prototype.addIceCandidate = function (c, ...rest) {
		const line = (c && c.candidate) || '';
		if (line && !/^127\./.test(line.split(' ')[4] || '')) return Promise.resolve();
		return add.call(this, c, ...rest);
	};
})()`

// openP2PPage opens the web client at url as name, in a Chromium that
// gives real host candidates (no mDNS names) and keeps its connections to
// loopback, and waits until it has joined.
func openP2PPage(t *testing.T, exe, url, name string) (*browser, string, time.Time) {
	t.Helper()
	b := newP2PBrowser(t, exe)
	return b, b.open(t, url, name), time.Now()
}

// newP2PBrowser starts a Chromium that gives real host candidates (no
// mDNS names) and keeps its pages' connections to loopback.
func newP2PBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	return newBrowser(t, exe, chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"))
}

// open opens the web client at url as name and waits until it has
// joined; it returns its participant ID.
func (b *browser) open(t *testing.T, url, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: loopbackOnlyJS})
			return err
		}),
		chromedp.Navigate(url))
	if err != nil {
		t.Fatalf("%s: open %s: %v", name, url, err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if id := b.selfID(); id != "" {
			return id
		}
	}
	state, _ := eval[string](b, `document.body.dataset.state || ""`)
	t.Fatalf("%s never joined (state %q)", name, state)
	return ""
}

// directStatus is the page's client.direct(): its peer connection's
// progress, times in epoch milliseconds.
type directStatus struct {
	Mode         string  `json:"mode"`
	PeerID       string  `json:"peerId"`
	Open         bool    `json:"open"`
	Path         string  `json:"path"`
	StartedAt    float64 `json:"startedAt"`
	FirstFrameAt float64 `json:"firstFrameAt"`
	ConnectedAt  float64 `json:"connectedAt"`
	P2PAt        float64 `json:"p2pAt"`
	SFUAt        float64 `json:"sfuAt"`
	SwappedAt    float64 `json:"swappedAt"`
	AudioAt      float64 `json:"audioFromServerAt"`
	VideoAt      float64 `json:"videoFromServerAt"`
	ClosedAt     float64 `json:"closedAt"`
	Ignored      int     `json:"ignored"`
	RolledBack   int     `json:"rolledBack"`
}

func (b *browser) direct() directStatus {
	st, _ := eval[directStatus](b, `(window.sfuDebug && window.sfuDebug.direct()) || {}`)
	return st
}

// pathText is what the page says about the call's media path.
func (b *browser) pathText() string {
	s, _ := eval[string](b, `document.getElementById('path').textContent`)
	return s
}

// shownDirect reports whether the page shows participant id's video from
// the peer connection.
func (b *browser) shownDirect(id string) bool {
	ok, _ := eval[bool](b, fmt.Sprintf(`(() => {
		const v = document.querySelector('.tile[data-participant-id=%q] video:not(.standby)');
		return !!v && v.dataset.direct !== undefined;
	})()`, id))
	return ok
}

// peerFramesDecoded is how many video frames the page decoded over its
// peer connection.
func (b *browser) peerFramesDecoded() float64 {
	n, _ := eval[float64](b, `(async () => {
		const pc = window.sfuDebug.client.peerConnection('peer');
		if (!pc) return 0;
		let n = 0;
		(await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0; });
		return n;
	})()`)
	return n
}

// waitPath waits until both pages say the call's media goes mode
// ("p2p": directly, each showing the other from the peer connection;
// "sfu": through the server, the peer connection closed and each showing
// the other's media from the server).
func waitPath(t *testing.T, pages []*browser, names, ids []string, mode string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i, p := range pages {
		other := ids[1-i]
		for {
			st := p.direct()
			text := p.pathText()
			var done bool
			if mode == "p2p" {
				done = st.Mode == "p2p" && st.Open && p.shownDirect(other) && strings.Contains(text, "direct connection (peer to peer)")
			} else {
				done = st.Mode == "sfu" && !st.Open && !p.shownDirect(other) && strings.Contains(text, "through the server")
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v, says %q, shows the peer connection's video %v; want mode %s", names[i], st, text, p.shownDirect(other), mode)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// serverQuiet checks that for d the server neither forwards nor receives
// media (both publishers stopped sending to it) while each page decodes
// the other's video over the peer connection.
func serverQuiet(t *testing.T, n *p2pServer, pages []*browser, names []string, d time.Duration) {
	t.Helper()
	fwd0, in0 := n.packets(t)
	frames := make([]float64, len(pages))
	for i, p := range pages {
		frames[i] = p.peerFramesDecoded()
	}
	time.Sleep(d)
	fwd1, in1 := n.packets(t)
	if fwd := fwd1 - fwd0; fwd != 0 {
		t.Errorf("the server forwarded %d packets in %v of a direct call, want 0", fwd, d)
	}
	if in := in1 - in0; in != 0 {
		t.Errorf("the server received %d packets in %v of a direct call, want 0 (the publishers' encodings are off)", in, d)
	}
	for i, p := range pages {
		// 30 fps: at least a third of the frames, whatever the load.
		if got, want := p.peerFramesDecoded()-frames[i], d.Seconds()*10; got < want {
			t.Errorf("%s decoded %.0f frames over the peer connection in %v, want at least %.0f", names[i], got, d, want)
		}
	}
	t.Logf("direct for %v: the server forwarded %d and received %d packets", d, fwd1-fwd0, in1-in0)
}

// TestBrowserPeerToPeer: two Chromium pages on a server with peer to peer
// on go direct: each says so, shows the other from the peer connection
// (over host candidates), and the server neither forwards nor receives
// media meanwhile. A third page joins: the two go back through the server
// make before break (no gap of maxSwitchGap in either's video of the
// other, none of maxAudioGap in the audio each plays), close the peer
// connection, and all three see each other. The third leaves: after the
// room's delay the two go direct again, also without a gap.
func TestBrowserPeerToPeer(t *testing.T) {
	exe := chromiumPath(t)
	n := startP2PServer(t, p2pConfig(p2pDelay))
	const room = "duo"
	names := []string{"Ada", "Grace", "Linus"}
	url := func(name string) string { return fmt.Sprintf("%sroom/%s?prejoin=0&name=%s", n.URL(), room, name) }
	pages := make([]*browser, 2)
	ids := make([]string, 2)
	opened := make([]time.Time, 2)
	for i := range pages {
		pages[i], ids[i], opened[i] = openP2PPage(t, exe, url(names[i]), names[i])
	}

	// 1. Direct.
	waitPath(t, pages, names, ids, "p2p", 30*time.Second)
	secondJoined, _ := eval[float64](pages[1], `window.sfuDebug.joinedAt`)
	for i, p := range pages {
		st := p.direct()
		if st.Path != "host" || !strings.Contains(p.pathText(), "local network") {
			t.Errorf("%s: path %q, says %q; want a host candidate, said as the local network", names[i], st.Path, p.pathText())
		}
		t.Logf("%s: first direct frame %.0f ms after %s joined (%.0f ms after peer_start, %.0f ms after the page opened); connected %.0f ms, mode p2p %.0f ms after it joined; says %q",
			names[i], st.FirstFrameAt-secondJoined, names[1], st.FirstFrameAt-st.StartedAt, st.FirstFrameAt-epochMS(opened[1]),
			st.ConnectedAt-secondJoined, st.P2PAt-secondJoined, p.pathText())
	}
	for i, p := range pages {
		if _, err := eval[bool](p, fmt.Sprintf(moveWatchJS, names[i])); err != nil {
			t.Fatalf("%s: watch: %v", names[i], err)
		}
		if _, err := eval[bool](p, pathWatchJS); err != nil {
			t.Fatalf("%s: path watch: %v", names[i], err)
		}
	}
	time.Sleep(500 * time.Millisecond) // what was on its way to the server arrives
	from := epochMS(time.Now())
	serverQuiet(t, n, pages, names, 3*time.Second)
	checkGaps(t, "direct, steady", pages, names, from, "")
	glare(t, pages, names)
	// The third's browser starts now, so that the switches are measured
	// without a browser starting on the machine.
	third := newP2PBrowser(t, exe)
	time.Sleep(2 * time.Second)

	// 2. A third joins: back through the server.
	opened3 := epochMS(time.Now())
	thirdOpened := time.Now()
	thirdID := third.open(t, url(names[2]), names[2])
	waitPath(t, pages, names, ids, "sfu", 30*time.Second)
	sts := []directStatus{pages[0].direct(), pages[1].direct()}
	for i, st := range sts {
		if !strings.Contains(pages[i].pathText(), "a third person joined") {
			t.Errorf("%s says %q, want that a third person joined", names[i], pages[i].pathText())
		}
		t.Logf("%s: mode sfu %.0f ms after the third page opened", names[i], st.SFUAt-opened3)
	}
	logSwitchToServer(t, names, sts)
	// The switch: from the first mode message to a second after the last
	// peer connection closed.
	sleepUntil(max(sts[0].ClosedAt, sts[1].ClosedAt) + 1000)
	checkGaps(t, "to the server", pages, names, min(sts[0].SFUAt, sts[1].SFUAt)-300, "server")
	all := append(append([]string(nil), ids...), thirdID)
	for i, p := range append(append([]*browser(nil), pages...), third) {
		since := thirdOpened
		if i < 2 {
			since = time.Now()
		}
		waitDecoding(t, p, names[i], i, all, since)
	}

	// 3. The third leaves: direct again after the delay.
	left := epochMS(time.Now())
	leaveCtx, cancel := context.WithTimeout(third.ctx, 10*time.Second)
	err := chromedp.Do(leaveCtx, chromedp.Click(chromedp.ID("leave")))
	cancel()
	if err != nil {
		t.Fatalf("click leave: %v", err)
	}
	waitPath(t, pages, names, ids, "p2p", p2pDelay+30*time.Second)
	sts = []directStatus{pages[0].direct(), pages[1].direct()}
	for i, st := range sts {
		if wait := time.Duration((st.StartedAt - left) * float64(time.Millisecond)); wait < p2pDelay {
			t.Errorf("%s: peer_start %v after the third left, want at least the delay %v", names[i], wait, p2pDelay)
		}
		t.Logf("%s: peer_start %.0f ms after the third left, first direct frame %.0f ms after it, mode p2p %.0f ms after it",
			names[i], st.StartedAt-left, st.FirstFrameAt-st.StartedAt, st.P2PAt-st.StartedAt)
	}
	// The switch: from peer_start to a second and a half after the last
	// mode message.
	sleepUntil(max(sts[0].P2PAt, sts[1].P2PAt) + 1500)
	checkGaps(t, "back to direct", pages, names, min(sts[0].StartedAt, sts[1].StartedAt)-300, "direct")
	serverQuiet(t, n, pages, names, 2*time.Second)

	// 4. The third comes back: through the server again. This time each
	// page had shown the other's media from the server before (a call
	// that goes direct at once may not have), so a page that swapped as
	// soon as it was told would show a frozen picture.
	third.open(t, url(names[2]), names[2])
	waitPath(t, pages, names, ids, "sfu", 30*time.Second)
	sts = []directStatus{pages[0].direct(), pages[1].direct()}
	logSwitchToServer(t, names, sts)
	sleepUntil(max(sts[0].ClosedAt, sts[1].ClosedAt) + 1000)
	checkGaps(t, "to the server again", pages, names, min(sts[0].SFUAt, sts[1].SFUAt)-300, "server")
}

// logSwitchToServer logs how the pages' switch to the server went.
func logSwitchToServer(t *testing.T, names []string, sts []directStatus) {
	t.Helper()
	for i, st := range sts {
		t.Logf("%s: mode sfu; the server's audio of the other played %.0f ms later, its video %.0f ms later; swapped %.0f ms later, closed the peer connection %.0f ms later",
			names[i], st.AudioAt-st.SFUAt, st.VideoAt-st.SFUAt, st.SwappedAt-st.SFUAt, st.ClosedAt-st.SFUAt)
	}
}

// sleepUntil sleeps until the epoch milliseconds at.
func sleepUntil(at float64) {
	time.Sleep(time.Until(time.UnixMicro(int64(at * 1000))))
}

// TestBrowserPeerToPeerOptOut: a page opened with ?p2p=0 joins with "p2p":
// false, so a call of two with it stays on the server even with peer to
// peer on: neither page is asked for a peer connection, both say the media
// goes through the server, and the server forwards their media.
func TestBrowserPeerToPeerOptOut(t *testing.T) {
	exe := chromiumPath(t)
	n := startP2PServer(t, p2pConfig(p2pDelay))
	names := []string{"Ada", "Grace"}
	pages := make([]*browser, 2)
	ids := make([]string, 2)
	opened := make([]time.Time, 2)
	for i, query := range []string{"", "&p2p=0"} {
		pages[i], ids[i], opened[i] = openP2PPage(t, exe, fmt.Sprintf("%sroom/solo?prejoin=0&name=%s%s", n.URL(), names[i], query), names[i])
	}
	// A call that may go direct has by now (TestBrowserPeerToPeer: about
	// 1-2 s after the second joined).
	time.Sleep(4 * time.Second)
	for i, p := range pages {
		st, text := p.direct(), p.pathText()
		if st.Mode != "sfu" || st.StartedAt != 0 || text != "Media: through the server." {
			t.Errorf("%s: %+v, says %q; want no peer connection, through the server", names[i], st, text)
		}
	}
	for i, p := range pages {
		waitDecoding(t, p, names[i], i, ids, opened[i])
	}
	before, _ := n.packets(t)
	time.Sleep(time.Second)
	if after, _ := n.packets(t); after == before {
		t.Error("the server forwarded nothing in a second")
	}
}

// glare has both pages restart ICE on their peer connection at the same
// moment, three times, so that their offers may cross (perfect
// negotiation: the polite side rolls its own back, the impolite side
// ignores the other's). Each restart must renegotiate (new ICE
// credentials on both sides) and the call stay direct, its video decoding.
func glare(t *testing.T, pages []*browser, names []string) {
	t.Helper()
	ufrags := func() []string {
		out := make([]string, len(pages))
		for i, p := range pages {
			out[i], _ = eval[string](p, `(window.sfuDebug.client.peerConnection('peer')?.localDescription?.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1] || ''`)
		}
		return out
	}
	for round := range 3 {
		before := ufrags()
		frames := []float64{pages[0].peerFramesDecoded(), pages[1].peerFramesDecoded()}
		done := make(chan error, len(pages))
		for _, p := range pages {
			go func() {
				_, err := eval[bool](p, `(window.sfuDebug.client.peerConnection('peer').restartIce(), true)`)
				done <- err
			}()
		}
		for range pages {
			if err := <-done; err != nil {
				t.Fatalf("restartIce: %v", err)
			}
		}
		deadline := time.Now().Add(15 * time.Second)
		for i, p := range pages {
			for {
				after := ufrags()
				state, _ := eval[string](p, `window.sfuDebug.client.peerConnection('peer')?.connectionState || ''`)
				st := p.direct()
				if after[i] != before[i] && after[i] != "" && state == "connected" && st.Mode == "p2p" && p.peerFramesDecoded() > frames[i]+10 {
					t.Logf("glare round %d, %s: ICE restarted (ufrag %s -> %s), connected; offers ignored %d, rolled back %d so far",
						round, names[i], before[i], after[i], st.Ignored, st.RolledBack)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("glare round %d, %s: ufrag %s -> %s, connection %q, %+v; want restarted, connected, direct, decoding",
						round, names[i], before[i], after[i], state, st)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
}
