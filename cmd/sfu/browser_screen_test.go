package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// screenReport is what the page's screen.js says of the screens it shows
// (window.sfuDebug.screens()).
type screenReport struct {
	Sharing  bool `json:"sharing"`
	Captured struct {
		Width     int     `json:"width"`
		Height    int     `json:"height"`
		FrameRate float64 `json:"frameRate"`
	} `json:"captured"`
	Screens []struct {
		TrackID         string  `json:"trackId"`
		ParticipantID   string  `json:"participantId"`
		Width           int     `json:"width"`
		Height          int     `json:"height"`
		FramesDecoded   float64 `json:"framesDecoded"`
		FrameWidth      int     `json:"frameWidth"`
		FrameHeight     int     `json:"frameHeight"`
		FramesPerSecond float64 `json:"framesPerSecond"`
	} `json:"screens"`
}

func (b *browser) screens() (screenReport, error) {
	return eval[screenReport](b, `window.sfuDebug && window.sfuDebug.screens ? window.sfuDebug.screens() : {sharing: false, screens: []}`)
}

// clickButton clicks the button with that id, as a person would: the
// click is the user gesture getDisplayMedia needs.
func clickButton(t *testing.T, b *browser, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		t.Fatalf("click %s: %v", id, err)
	}
}

// screenTileJS counts, in a page, the tiles marked as participant id's
// screen whose video shows a picture.
const screenTileJS = `[...document.querySelectorAll('.tile[data-source="screen"][data-publisher-id=%q] video')].filter((v) => v.videoWidth > 0).length`

// TestBrowserScreenShare: Ada clicks "Share screen" (Chromium's fake
// display source); Grace and Linus decode her screen in a tile of its
// own, marked data-source="screen", besides her camera; when she stops
// sharing, the tile goes at both. The time from the click to the others
// decoding the screen is logged, never asserted.
func TestBrowserScreenShare(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	names := []string{"Ada", "Grace", "Linus"}
	browsers, ids, opened := joinRoom(t, exe, n, "screen-test", names, "")
	for i, b := range browsers[1:] {
		waitDecoding(t, b, names[i+1], i+1, ids, opened[i+1])
	}
	ada := browsers[0]
	if hidden, err := eval[bool](ada, `document.getElementById('share').hidden`); err != nil || hidden {
		t.Fatalf("the Share screen button is hidden (%v): getDisplayMedia missing?", err)
	}
	cameraBefore := make([]map[string]float64, 3)
	for i, b := range browsers[1:] {
		got, err := b.decoded()
		if err != nil {
			t.Fatal(err)
		}
		cameraBefore[i+1] = got
	}

	clickButton(t, ada, "share")
	clicked := time.Now()
	// Both watchers are polled in turn, so that each one's first frame
	// is timed from the click alike.
	first := make([]time.Duration, 3)  // since the click, when the screen's first frames were seen
	frames := make([]float64, 3)       // the screen's frames decoded at the previous look
	done := []bool{true, false, false} // the screen decodes, rising, in its tile
	for !done[1] || !done[2] {
		for i := 1; i < 3; i++ {
			if done[i] {
				continue
			}
			b, name := browsers[i], names[i]
			r, err := b.screens()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, s := range r.Screens {
				if s.ParticipantID != ids[0] {
					continue
				}
				if s.FramesDecoded > 0 && first[i] == 0 {
					first[i] = time.Since(clicked)
				}
				if frames[i] > 0 && s.FramesDecoded > frames[i] && s.Width > 0 {
					tiles, err := eval[int](b, fmt.Sprintf(screenTileJS, ids[0]))
					if err != nil || tiles != 1 {
						t.Fatalf("%s: %d tiles marked as Ada's screen with a picture (%v), want 1", name, tiles, err)
					}
					t.Logf("%s decodes Ada's screen %dx%d at %.0f fps (%d x %d shown): first frames %v after the click",
						name, s.FrameWidth, s.FrameHeight, s.FramesPerSecond, s.Width, s.Height, first[i].Round(time.Millisecond))
					done[i] = true
				}
				frames[i] = s.FramesDecoded
			}
			if !done[i] && time.Since(clicked) > 15*time.Second {
				t.Fatalf("%s: screens %+v 15 s after the click; want Ada's, decoding", name, r)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r, err := ada.screens(); err == nil {
		t.Logf("Ada captures her screen at %dx%d, %.0f fps", r.Captured.Width, r.Captured.Height, r.Captured.FrameRate)
	}
	// Her camera goes on at both: frames decoded from her beyond the
	// screen's keep rising.
	for i, b := range browsers[1:] {
		got, err := b.decoded()
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.screens()
		if err != nil {
			t.Fatal(err)
		}
		camera := got[ids[0]]
		for _, s := range r.Screens {
			camera -= s.FramesDecoded
		}
		if camera <= cameraBefore[i+1][ids[0]] {
			t.Errorf("%s: %v camera frames decoded from Ada, %v before she shared: her camera stopped", names[i+1], camera, cameraBefore[i+1][ids[0]])
		}
	}
	if label, _ := eval[string](ada, `document.getElementById('share').textContent`); label != "Stop sharing" {
		t.Errorf("while sharing the button reads %q, want \"Stop sharing\"", label)
	}

	clickButton(t, ada, "share")
	stopped := time.Now()
	for i, b := range browsers[1:] {
		for {
			tiles, err := eval[int](b, fmt.Sprintf(`document.querySelectorAll('.tile[data-source="screen"][data-publisher-id=%q]').length`, ids[0]))
			if err != nil {
				t.Fatal(err)
			}
			if tiles == 0 {
				t.Logf("%s dropped Ada's screen %v after she stopped", names[i+1], time.Since(stopped).Round(time.Millisecond))
				break
			}
			if time.Since(stopped) > 5*time.Second {
				t.Fatalf("%s still shows Ada's screen 5 s after she stopped sharing", names[i+1])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if r, err := ada.screens(); err != nil || r.Sharing {
		t.Errorf("Ada still sharing after the second click (%v)", err)
	}
	// She shares again, on the same media section: Grace decodes the new
	// track.
	clickButton(t, ada, "share")
	again := time.Now()
	for shown := false; !shown; {
		r, err := browsers[1].screens()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range r.Screens {
			shown = shown || (s.ParticipantID == ids[0] && s.FramesDecoded > 0)
		}
		if !shown && time.Since(again) > 10*time.Second {
			t.Fatalf("Grace: screens %+v 10 s after Ada shared again", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Grace decodes Ada's second share %v after the click", time.Since(again).Round(time.Millisecond))
	// Network quality (quality.js): every tile, Grace's own too, carries
	// bars with a level and its words, from the server's quality messages.
	grace := browsers[1]
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := eval[qualityShown](grace, `window.sfuDebug.quality()`)
		if err != nil {
			t.Fatal(err)
		}
		labels, _ := eval[[]string](grace, `[...document.querySelectorAll('.tile > .quality')].map((e) => e.getAttribute('aria-label'))`)
		_, ada := q.Others[ids[0]]
		_, linus := q.Others[ids[2]]
		if q.Self != nil && ada && linus && len(labels) >= 3 {
			t.Logf("Grace shows network quality: her own %d (the server's %d, her browser's %d), the others %v; labels %q", *q.Self, q.Server, q.Browser, q.Others, labels)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Grace shows network quality %+v, labels %q; want her own and Ada's and Linus's", q, labels)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// qualityShown is window.sfuDebug.quality(): the level on our own tile
// and on the others'.
type qualityShown struct {
	Self    *int           `json:"self"`
	Others  map[string]int `json:"others"`
	Server  int            `json:"server"`
	Browser int            `json:"browser"`
}
