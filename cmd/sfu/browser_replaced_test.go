package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/signaling"
)

// TestBrowserReplacedTab opens the web client twice in one Chromium, two
// tabs with a token for the same identity. The second tab's join replaces
// the first: the first must end up closed, telling the person why in
// words, and must not reconnect (which would throw out the second in
// turn); the second must stay in the room, alone, with its tracks.
func TestBrowserReplacedTab(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, nil)
	const room = "one-identity"
	tok, err := n.Keys().Mint("dev", signaling.TokenRequest{
		Room: room, Identity: "same-person", Name: "Ada",
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	url := n.URL() + "room/" + room + "?prejoin=0&token=" + tok
	joins := func() float64 { return testutil.ToFloat64(n.Signaling().Metrics().Joins) }

	tab1 := newBrowser(t, exe)
	ctx2, cancel2 := chromedp.NewContext(tab1.ctx) // a second tab of the same browser
	tab2 := &browser{ctx: ctx2, cancel: cancel2}
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx2); err != nil { // opens the tab, with no timeout to close it
		t.Fatalf("open a second tab: %v", err)
	}

	state := func(b *browser) string {
		s, _ := eval[string](b, `document.body.dataset.state || ""`)
		return s
	}
	status := func(b *browser) string {
		s, _ := eval[string](b, `document.querySelector('#status').textContent`)
		return s
	}

	open := func(name string, b *browser) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		cancel()
		if err != nil {
			t.Fatalf("%s: open: %v", name, err)
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if id := b.selfID(); id != "" {
				return id
			}
		}
		t.Fatalf("%s never joined: state %q status %q; joins %v", name, state(b), status(b), joins())
		return ""
	}
	open("tab 1", tab1)
	id2 := open("tab 2", tab2)

	// Tab 1 says why it is closed.
	start := time.Now()
	for state(tab1) != "error" || !strings.Contains(status(tab1), "another tab or device") {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("tab 1: state %q, status %q; want error and the reason", state(tab1), status(tab1))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("tab 1 after %v: %q", time.Since(start).Round(time.Millisecond), status(tab1))
	if button, _ := eval[string](tab1, `document.querySelector('#leave').textContent`); button != "Rejoin here" {
		t.Errorf("tab 1 offers %q, want a Rejoin here button", button)
	}

	// Watch for longer than several reconnect back-offs: nobody comes back.
	for watch := time.Now(); time.Since(watch) < 8*time.Second; time.Sleep(500 * time.Millisecond) {
		if got := joins(); got != 2 {
			t.Fatalf("%.0f joins on the server, want 2: a tab reconnected", got)
		}
		st, _ := n.SFU().RoomState(room)
		if len(st.Participants) != 1 || st.Participants[0].ID != id2 {
			t.Fatalf("room holds %+v, want only tab 2's %s", st.Participants, id2)
		}
		if s := state(tab1); s != "error" {
			t.Fatalf("tab 1 went to state %q", s)
		}
		if s, id := state(tab2), tab2.selfID(); s != "connected" || id != id2 {
			t.Fatalf("tab 2: state %q as %q, want connected as %s", s, id, id2)
		}
	}
	st, _ := n.SFU().RoomState(room)
	if got := len(st.Participants[0].Published); got != 2 {
		t.Errorf("tab 2 publishes %d tracks, want its audio and video", got)
	}
	if got := testutil.ToFloat64(n.Signaling().Metrics().Departures.WithLabelValues("replaced")); got != 1 {
		t.Errorf(`sfu_ws_departures_total{reason="replaced"} = %v, want 1`, got)
	}
}
