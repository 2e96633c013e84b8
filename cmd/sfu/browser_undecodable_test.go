package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// noVP8JS makes the page's browser one that cannot decode VP8, as far as
// the web client can tell: RTCRtpReceiver's capabilities leave it out, so
// the page's join lists no VP8.
const noVP8JS = `(() => {
	const get = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
	RTCRtpReceiver.getCapabilities = (kind) => {
		const caps = get(kind);
		if (caps && kind === 'video') caps.codecs = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== 'video/vp8');
		return caps;
	};
})()`

// TestBrowserUndecodableNote: a Chromium page that says it cannot decode
// VP8 (its receiver capabilities are trimmed before the web client
// loads) joins a room where a Go client publishes VP8 video, which it
// cannot change. The page's tile for the publisher must say in words
// that it cannot play that video, with the publisher's name and the
// codec; the room asks the publisher, in vain, for VP9.
func TestBrowserUndecodableNote(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	const room = "undecodable"
	mint := func(identity, name string) string {
		tok, err := n.Keys().Mint("dev", signaling.TokenRequest{
			Room: room, Identity: identity, Name: name,
			Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour,
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := loadtest.Dial(ctx, loadtest.Options{URL: "ws" + strings.TrimPrefix(n.URL(), "http") + "ws", Token: mint("grace", "Grace"), LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if err := pub.Publish(loadtest.Media{FPS: 15, FrameBytes: 1000, KeyframeEvery: time.Second, Audio: true}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, exe)
	octx, ocancel := context.WithTimeout(b.ctx, 20*time.Second)
	_, err = chromedp.Call(octx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noVP8JS})
	if err == nil {
		err = chromedp.Do(octx, chromedp.Navigate(n.URL()+"room/"+room+"?prejoin=0&token="+mint("ada", "Ada")))
	}
	ocancel()
	if err != nil {
		t.Fatal(err)
	}
	const want = "Your browser can't play Grace's video (VP8)"
	var note string
	for deadline := time.Now().Add(20 * time.Second); note != want; time.Sleep(200 * time.Millisecond) {
		note, _ = eval[string](b, `[...document.querySelectorAll('.tile .undecodable')].map((e) => e.textContent).join(' | ')`)
		if time.Now().After(deadline) {
			t.Fatalf("the page's notes say %q, want %q", note, want)
		}
	}
	m, err := pub.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" })
	if err != nil || m.Codec != "video/VP9" {
		t.Errorf("publisher: %+v (%v), want codec video/VP9", m, err)
	}
}
