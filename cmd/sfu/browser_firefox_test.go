package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/firefox"
	"github.com/sfu-project/sfu/loadtest"
)

// Firefox gathers no ICE candidates on 127.0.0.1, so its tests run the sfu
// binary inside a network namespace (loadtest.Lab, startLabServer) and the
// browsers in the root namespace, where they reach it over the veth pair
// from the lab's host address. Firefox's WebDriver BiDi endpoint stays on
// the root namespace's loopback, where the test reaches it; the pages
// come from the namespace's address, which both browsers are told to
// treat as a secure origin so that they get their fake cameras over
// plain http.

// steadyFor is how long firefoxPair watches both browsers decode once
// they have started.
const steadyFor = 10 * time.Second

// firefoxPath finds Firefox ESR. Outside CI a missing browser skips the
// test; in CI (CI=true) it fails it, because `make test` installs it.
func firefoxPath(t *testing.T) string {
	exe, err := firefox.Path()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return exe
}

// newFirefox starts Firefox with pages from host treated as secure and
// let through its proxy, closed when the test ends (its console and
// output logged if the test failed).
func newFirefox(t *testing.T, exe, host string) *firefox.Browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := firefox.Start(ctx, firefox.Options{Exe: exe, Direct: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Firefox console:\n%s", strings.Join(f.Console(), "\n"))
			t.Logf("Firefox output:\n%s", f.Stderr())
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// ffEval evaluates expr in Firefox's page into T.
func ffEval[T any](f *firefox.Browser, expr string) (T, error) {
	var v T
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.Eval(ctx, expr, &v)
	return v, err
}

// videoFrom is what a page decodes of one participant's video: its
// inbound-rtp statistics, with the codec, and the size of the video
// element of the participant's tile.
type videoFrom struct {
	Frames      float64 `json:"frames"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	Codec       string  `json:"codec"`
	Bytes       float64 `json:"bytes"`
	PLIs        float64 `json:"plis"`
	NACKs       float64 `json:"nacks"`
	VideoWidth  int     `json:"videoWidth"`
	VideoHeight int     `json:"videoHeight"`
}

func (v videoFrom) String() string {
	return fmt.Sprintf("%s %dx%d (element %dx%d), %.0f frames decoded, %.0f kB, %.0f PLIs, %.0f NACKs",
		v.Codec, v.Width, v.Height, v.VideoWidth, v.VideoHeight, v.Frames, v.Bytes/1000, v.PLIs, v.NACKs)
}

// videoFromJS computes a videoFrom for the participant %q in either
// browser: the inbound-rtp entries are those of the tracks the tile's
// video elements play.
const videoFromJS = `(async (pid) => {
	const out = { frames: 0, width: 0, height: 0, codec: '', bytes: 0, plis: 0, nacks: 0, videoWidth: 0, videoHeight: 0 };
	const ids = new Set();
	for (const v of document.querySelectorAll('.tile[data-participant-id="' + pid + '"] video')) {
		out.videoWidth = Math.max(out.videoWidth, v.videoWidth);
		out.videoHeight = Math.max(out.videoHeight, v.videoHeight);
		for (const t of v.srcObject?.getVideoTracks() ?? []) ids.add(t.id);
	}
	const pc = window.sfuDebug?.client.peerConnection('subscriber');
	if (!pc) return out;
	const stats = await pc.getStats();
	for (const s of stats.values()) {
		if (s.type !== 'inbound-rtp' || (s.kind ?? s.mediaType) !== 'video' || !ids.has(s.trackIdentifier)) continue;
		out.frames += s.framesDecoded ?? 0;
		out.bytes += s.bytesReceived ?? 0;
		out.plis += s.pliCount ?? 0;
		out.nacks += s.nackCount ?? 0;
		if (s.frameWidth) { out.width = s.frameWidth; out.height = s.frameHeight; }
		const c = stats.get(s.codecId)?.mimeType;
		if (c) out.codec = c;
	}
	return out;
})(%q)`

// pageStateJS reads the page's state, status line and notice into a
// pageState, for messages.
const pageStateJS = `({ state: document.body.dataset.state ?? '', status: document.querySelector('#status')?.textContent ?? '', notice: document.querySelector('#notice')?.textContent ?? '' })`

type pageState struct{ State, Status, Notice string }

// outboundJS describes each video encoding a page sends.
const outboundJS = `(async () => {
	const pc = window.sfuDebug?.client.peerConnection('publisher');
	if (!pc) return [];
	const out = [];
	const stats = await pc.getStats();
	for (const s of stats.values()) {
		if (s.type !== 'outbound-rtp' || (s.kind ?? s.mediaType) !== 'video') continue;
		out.push((s.rid ?? '-') + ' ' + (stats.get(s.codecId)?.mimeType ?? '?') + ' ' + (s.frameWidth ?? 0) + 'x' + (s.frameHeight ?? 0) +
			' ' + Math.round(s.framesPerSecond ?? 0) + ' fps ' + Math.round((s.bytesSent ?? 0) / 1000) + ' kB ' + (s.qualityLimitationReason ?? ''));
	}
	return out.sort();
})()`

// waitVideo polls probe until the video from a participant has decoded
// more than minFrames, still rising, at a known size, and returns it.
func waitVideo(t *testing.T, who string, probe func() (videoFrom, error), minFrames float64, within time.Duration) videoFrom {
	t.Helper()
	var last videoFrom
	for deadline := time.Now().Add(within); ; time.Sleep(300 * time.Millisecond) {
		v, err := probe()
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		if v.Frames > minFrames && v.Frames > last.Frames && last.Frames > 0 && v.Width > 0 && v.VideoWidth > 0 {
			return v
		}
		last = v
		if time.Now().After(deadline) {
			t.Fatalf("%s after %v: %v; want over %.0f frames, rising, at a known size", who, within, v, minFrames)
		}
	}
}

// firefoxPair opens the web client in one Chromium and one Firefox on
// room, both with ?codec=codec when it is set, and checks that each
// decodes the other's video; it returns what each decodes.
func firefoxPair(t *testing.T, chromium, ffExe string, lab *loadtest.Lab, srv *labServer, room, codec string) (inChromium, inFirefox videoFrom) {
	t.Helper()
	query := ""
	if codec != "" {
		query = "&codec=" + codec
	}
	origin := strings.TrimSuffix(srv.base, "/")
	c := newLabBrowser(t, chromium, origin)
	f := newFirefox(t, ffExe, lab.NSIP.String())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SFU: %s", srv.roomSummary(room))
			if out, err := ffEval[[]string](f, outboundJS); err == nil {
				t.Logf("Firefox sends: %s", strings.Join(out, "; "))
			}
			if out, err := eval[[]string](c, outboundJS); err == nil {
				t.Logf("Chromium sends: %s", strings.Join(out, "; "))
			}
			if os.Getenv("SFU_ROOMDUMP") != "" {
				body, _ := srv.get("debug/rooms/" + room)
				t.Logf("room: %s", body)
			}
		}
	})

	opened := time.Now()
	url := fmt.Sprintf("%sroom/%s?prejoin=0&name=Chromium%s", srv.base, room, query)
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	err := chromedp.Do(ctx, chromedp.Navigate(url))
	cancel()
	if err != nil {
		t.Fatalf("Chromium: open %s: %v", url, err)
	}
	url = fmt.Sprintf("%sroom/%s?prejoin=0&name=Firefox%s", srv.base, room, query)
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	err = f.Navigate(ctx, url)
	cancel()
	if err != nil {
		t.Fatalf("Firefox: open %s: %v", url, err)
	}

	var cID, fID string
	for deadline := time.Now().Add(20 * time.Second); cID == "" || fID == ""; time.Sleep(100 * time.Millisecond) {
		cID = c.selfID()
		fID, _ = ffEval[string](f, `window.sfuDebug?.client.self?.id ?? ''`)
		if time.Now().After(deadline) {
			st, _ := ffEval[pageState](f, pageStateJS)
			t.Fatalf("joined: Chromium %q, Firefox %q (Firefox page %+v)", cID, fID, st)
		}
	}
	if codec != "" {
		for name, has := range map[string]func() (bool, error){
			"Chromium": func() (bool, error) {
				return eval[bool](c, `RTCRtpSender.getCapabilities('video').codecs.some(c => c.mimeType.toLowerCase() === 'video/`+codec+`')`)
			},
			"Firefox": func() (bool, error) {
				return ffEval[bool](f, `RTCRtpReceiver.getCapabilities('video').codecs.some(c => c.mimeType.toLowerCase() === 'video/`+codec+`')`)
			},
		} {
			if ok, err := has(); err != nil {
				t.Fatal(err)
			} else if !ok {
				t.Skipf("this %s lacks %s (RTCRtpReceiver.getCapabilities)", name, codec)
			}
		}
	}

	inFirefox = waitVideo(t, "Firefox, Chromium's video", func() (videoFrom, error) {
		return ffEval[videoFrom](f, fmt.Sprintf(videoFromJS, cID))
	}, 30, 45*time.Second)
	t.Logf("Firefox decodes Chromium's video %v after page load: %v", time.Since(opened).Round(time.Millisecond), inFirefox)
	inChromium = waitVideo(t, "Chromium, Firefox's video", func() (videoFrom, error) {
		return eval[videoFrom](c, fmt.Sprintf(videoFromJS, fID))
	}, 30, 45*time.Second)
	t.Logf("Chromium decodes Firefox's video %v after page load: %v", time.Since(opened).Round(time.Millisecond), inChromium)

	// Both keep decoding for steadyFor, while the senders' bandwidth
	// estimates ramp up and the layers settle; what they decode then is
	// logged.
	start, startC, startF := time.Now(), inChromium, inFirefox
	time.Sleep(steadyFor)
	var errF, errC error
	inFirefox, errF = ffEval[videoFrom](f, fmt.Sprintf(videoFromJS, cID))
	inChromium, errC = eval[videoFrom](c, fmt.Sprintf(videoFromJS, fID))
	if err := errors.Join(errF, errC); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start).Seconds()
	t.Logf("after %.0f s more: Firefox decodes Chromium's video at %.1f fps: %v", elapsed, (inFirefox.Frames-startF.Frames)/elapsed, inFirefox)
	t.Logf("after %.0f s more: Chromium decodes Firefox's video at %.1f fps: %v", elapsed, (inChromium.Frames-startC.Frames)/elapsed, inChromium)
	if inFirefox.Frames-startF.Frames < 2*elapsed || inChromium.Frames-startC.Frames < 2*elapsed {
		t.Errorf("decoding slowed below 2 fps over %.0f s: Firefox %.0f frames, Chromium %.0f", elapsed, inFirefox.Frames-startF.Frames, inChromium.Frames-startC.Frames)
	}
	t.Logf("SFU: %s", srv.roomSummary(room))
	if out, err := ffEval[[]string](f, outboundJS); err == nil {
		t.Logf("Firefox sends: %s", strings.Join(out, "; "))
	}
	if out, err := eval[[]string](c, outboundJS); err == nil {
		t.Logf("Chromium sends: %s", strings.Join(out, "; "))
	}
	if os.Getenv("SFU_ROOMDUMP") != "" {
		body, _ := srv.get("debug/rooms/" + room)
		t.Logf("room: %s", body)
	}
	for _, line := range f.Console() {
		if strings.HasPrefix(line, "error") || strings.HasPrefix(line, "warn") {
			t.Logf("Firefox console: %s", line)
		}
	}
	return inChromium, inFirefox
}

// TestFirefoxReceivesVideo opens the real web client in Firefox ESR and in
// Chromium, in one room of an sfu binary (with rooms of two kept on the
// SFU): each must decode over 30 frames of the other's VP8 video, still
// rising, with a frame size in its statistics and on its video element.
func TestFirefoxReceivesVideo(t *testing.T) {
	chromium := chromiumPath(t)
	ffExe := firefoxPath(t)
	lab := loadtest.NewTestLab(t)
	srv := startLabServer(t, lab, "--p2p=false")
	inChromium, inFirefox := firefoxPair(t, chromium, ffExe, lab, srv, "firefox", "")
	for _, v := range []videoFrom{inChromium, inFirefox} {
		if !strings.EqualFold(v.Codec, "video/vp8") {
			t.Errorf("decoded %v, want VP8 (the web client's default)", v)
		}
	}
}

// TestFirefoxCodecs is TestFirefoxReceivesVideo with both pages preferring
// VP9, then H.264: each browser must decode the other's video in that
// codec. Firefox's H.264 is the OpenH264 plugin it downloads from Cisco
// on first use, which a test profile, kept off the network, never has:
// without it Firefox offers no H.264 and the subtest is skipped.
func TestFirefoxCodecs(t *testing.T) {
	chromium := chromiumPath(t)
	ffExe := firefoxPath(t)
	lab := loadtest.NewTestLab(t)
	srv := startLabServer(t, lab, "--p2p=false")
	for _, codec := range []string{"vp9", "h264"} {
		t.Run(codec, func(t *testing.T) {
			inChromium, inFirefox := firefoxPair(t, chromium, ffExe, lab, srv, "firefox-"+codec, codec)
			for _, v := range []videoFrom{inChromium, inFirefox} {
				if !strings.EqualFold(v.Codec, "video/"+codec) {
					t.Errorf("decoded %v, want %s", v, codec)
				}
			}
		})
	}
}
