package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/firefox"
	"github.com/sfu-project/sfu/loadtest"
)

// interopCell is what one browser decodes of the other's video in one
// room: the codec it arrived in, its size, the size the subscriber's
// tile asks for (the publisher's encoding of the layer the tile's height
// selects), and the time from opening the pages to its first decoded
// frame.
type interopCell struct {
	From, To, Asked string // browser names, and the codec the pages asked for
	Got             videoFrom
	Want            tileAsk
	FirstFrame      time.Duration
}

func (c interopCell) String() string {
	return fmt.Sprintf("| %s %s | %s | %s | %dx%d | %v | %v |", c.From, strings.ToUpper(c.Asked), c.To,
		c.Got.Codec, c.Got.Width, c.Got.Height, c.Want, c.FirstFrame.Round(10*time.Millisecond))
}

// tileAsk is the simulcast layer a subscriber's tile asks for (the web
// client's layerForHeight), and the size the publisher sends that
// layer at.
type tileAsk struct {
	Layer  int `json:"layer"`
	Width  int `json:"width"`
	Height int `json:"height"`
	// Sent is the layer whose size Width and Height are: Layer, or the
	// highest one below it the publisher sends while it has not started
	// Layer yet (its own bandwidth estimate still ramping up).
	Sent int `json:"-"`
}

func (a tileAsk) String() string {
	if a.Sent != a.Layer {
		return fmt.Sprintf("layer %d, sent up to layer %d: %dx%d", a.Layer, a.Sent, a.Width, a.Height)
	}
	return fmt.Sprintf("layer %d, %dx%d", a.Layer, a.Width, a.Height)
}

// tileLayerJS is the layer the tile of participant %q asks for, as
// tiles.js computes it from the tile's height.
const tileLayerJS = `((pid) => {
	const tile = document.querySelector('.tile[data-participant-id="' + pid + '"]');
	const px = (tile?.clientHeight ?? 0) * (window.devicePixelRatio || 1);
	return px <= 180 ? 0 : px <= 360 ? 1 : 2;
})(%q)`

// sentLayersJS maps each RID a page sends video on to the frame size it
// sends there now.
const sentLayersJS = `(async () => {
	const pc = window.sfuDebug?.client.peerConnection('publisher');
	const out = {};
	if (!pc) return out;
	for (const s of (await pc.getStats()).values()) {
		if (s.type === 'outbound-rtp' && (s.kind ?? s.mediaType) === 'video' && s.frameWidth && (s.bytesSent ?? 0) > 0)
			out[s.rid ?? 'f'] = [s.frameWidth, s.frameHeight];
	}
	return out;
})()`

// rampUp is how long a cell waits for the publisher to send the layer
// the subscriber's tile asks for: a browser starts its top layer once
// its own bandwidth estimate allows, within seconds on this link, later
// on a busy machine.
const rampUp = 10 * time.Second

// interopPage is one open page in one of the two browsers.
type interopPage struct {
	name string
	eval func(expr string, v any) error
}

func (p interopPage) ask(publisher interopPage, pid string) (tileAsk, error) {
	var a tileAsk
	if err := p.eval(fmt.Sprintf(tileLayerJS, pid), &a.Layer); err != nil {
		return a, err
	}
	var sent map[string][2]int
	if err := publisher.eval(sentLayersJS, &sent); err != nil {
		return a, err
	}
	// The highest layer sent at or below the one asked for: a page
	// without simulcast sends one stream, without a RID.
	for l := a.Layer; l >= 0; l-- {
		if s, ok := sent[[]string{"q", "h", "f"}[l]]; ok {
			a.Width, a.Height, a.Sent = s[0], s[1], l
			return a, nil
		}
	}
	return a, nil
}

// TestBrowserInterop opens the web client in one Chromium and one
// Firefox ESR in a room of an sfu binary (rooms of two kept on the SFU),
// once with each page preferring VP8, VP9 and H.264, the same two
// browsers going from room to room. In each room each browser must decode
// the other's video: in the codec asked for where the subscriber decodes
// it, and otherwise (this Firefox has no H.264) in VP8, to which the room
// switched the publisher; at the size its tile asks for (the
// publisher's encoding of the simulcast layer the tile's height
// selects, once the publisher sends that layer; after rampUp, the best
// it sends); with the frame count still rising. The matrix, with each
// cell's time to first frame, is logged.
func TestBrowserInterop(t *testing.T) {
	chromium := chromiumPath(t)
	ffExe := firefoxPath(t)
	lab := loadtest.NewTestLab(t)
	srv := startLabServer(t, lab, "--p2p=false")
	c := newLabBrowser(t, chromium, strings.TrimSuffix(srv.base, "/"))
	f := newFirefox(t, ffExe, lab.NSIP.String())
	var cells []interopCell
	for _, codec := range []string{"vp8", "vp9", "h264"} {
		t.Run(codec, func(t *testing.T) {
			cells = append(cells, interopRoom(t, c, f, srv, "interop-"+codec, codec)...)
		})
	}
	rows := []string{"| publisher, codec asked | subscriber | received | decoded | tile asks | first frame |", "|---|---|---|---|---|---|"}
	for _, cell := range cells {
		rows = append(rows, cell.String())
	}
	t.Logf("interop matrix:\n%s", strings.Join(rows, "\n"))
}

// interopRoom opens both pages on room preferring codec and returns the
// two cells: Chromium's video in Firefox, Firefox's in Chromium.
func interopRoom(t *testing.T, c *browser, f *firefox.Browser, srv *labServer, room, codec string) []interopCell {
	t.Helper()
	chrome := interopPage{"Chromium", func(expr string, v any) error {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		defer cancel()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, v)
	}}
	fox := interopPage{"Firefox", func(expr string, v any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return f.Eval(ctx, expr, v)
	}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SFU: %s", srv.roomSummary(room))
			for _, p := range []interopPage{chrome, fox} {
				var out []string
				if err := p.eval(outboundJS, &out); err == nil {
					t.Logf("%s sends: %s", p.name, strings.Join(out, "; "))
				}
			}
		}
	})

	// Which codecs each browser has decides what each cell must get.
	has := func(p interopPage, side string) bool {
		var ok bool
		expr := fmt.Sprintf(`RTCRtp%s.getCapabilities('video').codecs.some(c => c.mimeType.toLowerCase() === 'video/%s')`, side, codec)
		if err := p.eval(expr, &ok); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		return ok
	}
	opened := time.Now()
	for _, p := range []struct {
		page interopPage
		open func(ctx context.Context, url string) error
	}{
		{chrome, func(ctx context.Context, url string) error { return chromedp.Do(ctx, chromedp.Navigate(url)) }},
		{fox, f.Navigate},
	} {
		url := fmt.Sprintf("%sroom/%s?prejoin=0&name=%s&codec=%s", srv.base, room, p.page.name, codec)
		ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
		err := p.open(ctx, url)
		cancel()
		if err != nil {
			t.Fatalf("%s: open %s: %v", p.page.name, url, err)
		}
	}
	if !has(chrome, "Sender") {
		t.Skipf("this Chromium cannot send %s", codec)
	}
	want := map[string]string{ // publisher -> the codec its video must arrive in
		"Chromium": "video/" + codec,
		"Firefox":  "video/" + codec,
	}
	if !has(fox, "Receiver") {
		t.Logf("this Firefox does not decode %s (RTCRtpReceiver.getCapabilities): the room must switch Chromium to VP8", codec)
		want["Chromium"] = "video/vp8" // the room's fallback
	}
	if !has(fox, "Sender") {
		want["Firefox"] = "video/vp8" // Firefox's first codec
	}

	var ids [2]string
	for deadline := time.Now().Add(20 * time.Second); ids[0] == "" || ids[1] == ""; time.Sleep(100 * time.Millisecond) {
		for i, p := range []interopPage{chrome, fox} {
			_ = p.eval(`window.sfuDebug?.client.self?.id ?? ''`, &ids[i])
		}
		if time.Now().After(deadline) {
			t.Fatalf("joined: Chromium %q, Firefox %q", ids[0], ids[1])
		}
	}

	cells := []*interopCell{
		{From: "Chromium", To: "Firefox", Asked: codec},
		{From: "Firefox", To: "Chromium", Asked: codec},
	}
	pages := map[string]interopPage{"Chromium": chrome, "Firefox": fox}
	idOf := map[string]string{"Chromium": ids[0], "Firefox": ids[1]}
	// Poll both directions until each decodes, rising, in the codec it
	// must arrive in and at the size its tile asks for.
	done := make([]bool, len(cells))
	last := make([]videoFrom, len(cells))
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		all := true
		for i, cell := range cells {
			if done[i] {
				continue
			}
			sub, pub := pages[cell.To], pages[cell.From]
			var v videoFrom
			if err := sub.eval(fmt.Sprintf(videoFromJS, idOf[cell.From]), &v); err != nil {
				t.Fatalf("%s: %v", sub.name, err)
			}
			if v.Frames > 0 && cell.FirstFrame == 0 {
				cell.FirstFrame = time.Since(opened)
			}
			ask, err := sub.ask(pub, idOf[cell.From])
			if err != nil {
				t.Fatal(err)
			}
			cell.Got, cell.Want = v, ask
			rising := v.Frames > last[i].Frames && last[i].Frames > 0
			last[i] = v
			// The layer the tile asks for, once the publisher sends it;
			// after rampUp, the best it sends.
			exact := ask.Sent == ask.Layer || time.Since(opened) > rampUp
			done[i] = rising && exact && strings.EqualFold(v.Codec, want[cell.From]) && v.Height > 0 && v.Height == ask.Height && v.VideoHeight == ask.Height
			all = all && done[i]
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			for i, cell := range cells {
				if !done[i] {
					t.Errorf("%s decodes %s's video: %v; want %s at %dx%d (tile asks %v), rising", cell.To, cell.From, cell.Got, want[cell.From], cell.Want.Width, cell.Want.Height, cell.Want)
				}
			}
			break
		}
	}
	for _, p := range []interopPage{chrome, fox} {
		var sends []string
		if err := p.eval(outboundJS, &sends); err == nil {
			t.Logf("%s sends: %s", p.name, strings.Join(sends, "; "))
		}
		// Each layer it sends is larger than the one below: Firefox's VP9
		// encoders sent all three at the size of the first encoding.
		var sent map[string][2]int
		if err := p.eval(sentLayersJS, &sent); err != nil {
			t.Fatal(err)
		}
		below, belowRID := 0, ""
		for _, rid := range []string{"q", "h", "f"} {
			if s, ok := sent[rid]; ok {
				if s[1] <= below {
					t.Errorf("%s sends layer %s at %dx%d, no larger than layer %s (%d high)", p.name, rid, s[0], s[1], belowRID, below)
				}
				below, belowRID = s[1], rid
			}
		}
	}
	out := make([]interopCell, len(cells))
	for i, cell := range cells {
		t.Logf("%s decodes %s's video (%s asked): %v; tile asks %v; first frame %v after opening the pages",
			cell.To, cell.From, codec, cell.Got, cell.Want, cell.FirstFrame.Round(time.Millisecond))
		out[i] = *cell
	}
	return out
}
