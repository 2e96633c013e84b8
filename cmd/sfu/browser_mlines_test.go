package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// TestBrowserRecycledMLines keeps the real web client in a room while 30
// publishers (Go clients sending the sample clip) come and go, two at a
// time: the page's subscriber connection reuses the m-lines of departed
// tracks, so it keeps a handful of transceivers, and it shows and decodes
// each newcomer arriving on a recycled m-line, to the last one.
func TestBrowserRecycledMLines(t *testing.T) {
	const (
		publishers = 30
		atOnce     = 2
		room       = "recycle-browser"
	)
	exe := chromiumPath(t)
	started := time.Now()
	n := nodetest.Start(t, sfuPath)
	samples, err := loadtest.LoadSamples()
	if err != nil {
		t.Fatal(err)
	}
	// The page joins as a viewer (no camera), to spare the machine an
	// encoder.
	b := newBrowser(t, exe, chromedp.Flag("use-fake-device-for-media-stream", false))
	url := fmt.Sprintf("%sroom/%s?prejoin=0&name=Stay", n.URL(), room)
	nctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	err = chromedp.Do(nctx, chromedp.Navigate(url))
	cancel()
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	for deadline := time.Now().Add(30 * time.Second); b.selfID() == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the page never joined")
		}
	}

	ctx, cancelAll := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancelAll()
	ws := "ws" + strings.TrimPrefix(n.URL(), "http") + "ws"
	publish := func(i int) *loadtest.Client {
		t.Helper()
		tok, err := n.Keys().Mint("dev", signaling.TokenRequest{
			Room: room, Identity: fmt.Sprintf("pub-%d", i), Name: fmt.Sprintf("Pub %d", i),
			Grants: signaling.Grants{Publish: true}, TTL: time.Hour,
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: ws, Token: tok, LoopbackOnly: true})
		if err != nil {
			t.Fatalf("publisher %d: %v", i, err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.Media{Samples: samples, Audio: true}); err != nil {
			t.Fatalf("publisher %d: %v", i, err)
		}
		return c
	}
	// forwarded waits until the server forwards id, publisher i's, video
	// to the page: the page answered the offer that carries it.
	self := b.selfID()
	forwarded := func(i int, id string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			state, _ := n.SFU().RoomState(room)
			for _, p := range state.Participants {
				if p.ID != self {
					continue
				}
				for _, s := range p.Subscriptions {
					if s.From == id && s.Kind == "video" && s.Current >= 0 {
						return
					}
				}
			}
			if time.Now().After(deadline) {
				tr, size := b.subscriberSize()
				t.Fatalf("the page does not receive publisher %d's video after 20 s; its subscriber connection has %d transceivers, its last offer %d bytes",
					i, tr, size)
			}
		}
	}
	// decodes waits until the page shows id's tile and decodes rising
	// frame counts from it.
	decodes := func(id string) {
		t.Helper()
		var last float64
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
			got, err := b.decoded()
			if err != nil {
				t.Fatal(err)
			}
			width, _ := eval[int](b, fmt.Sprintf(`(() => {
				const v = document.querySelector('.tile[data-participant-id=%q] video');
				return v ? v.videoWidth : -1;
			})()`, id))
			if width > 0 && last > 0 && got[id] > last {
				return
			}
			last = got[id]
			if time.Now().After(deadline) {
				t.Fatalf("the page decodes %v (tile of %s %d px wide); want rising frames from %s", got, id, width, id)
			}
		}
	}

	var in []*loadtest.Client
	for i := range publishers {
		if len(in) == atOnce {
			in[0].Leave()
			in = in[1:]
		}
		c := publish(i)
		in = append(in, c)
		forwarded(i, c.Self.ID)
		if i%10 == 9 {
			decodes(c.Self.ID)
		}
	}
	lastPub := in[len(in)-1]
	decodes(lastPub.Self.ID)

	transceivers, size := b.subscriberSize()
	decoded, _ := b.decoded()
	t.Logf("after %d publishers: the page's subscriber connection has %d transceivers, its last offer %d bytes; it decodes %v; %v",
		publishers, transceivers, size, decoded, time.Since(started).Round(time.Millisecond))
	// Each publisher sends audio and video; a departure and an arrival
	// may overlap.
	if want := 2 * (atOnce + 1); transceivers > want {
		t.Errorf("the page has %d transceivers, want at most %d", transceivers, want)
	}
	tiles := b.tiles()
	if len(tiles) != atOnce {
		t.Errorf("the page shows tiles %v, want the %d publishers in the room", tiles, atOnce)
	}
}

// subscriberSize returns the number of transceivers of the page's
// subscriber connection and the size of the last offer it took.
func (b *browser) subscriberSize() (transceivers, offer int) {
	got, _ := eval[[]int](b, `(() => {
		const pc = window.sfuDebug.client.peerConnection('subscriber');
		return [pc.getTransceivers().length, pc.remoteDescription ? pc.remoteDescription.sdp.length : 0];
	})()`)
	if len(got) != 2 {
		return -1, -1
	}
	return got[0], got[1]
}
