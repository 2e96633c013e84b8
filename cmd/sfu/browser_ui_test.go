package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// bestTileArea is the area of the largest 16:9 tiles n of which fit in a
// grid in width x height, gap px apart: the layout the call page must reach.
func bestTileArea(n int, width, height, gap float64) (area float64, cols int) {
	for c := 1; c <= n; c++ {
		rows := math.Ceil(float64(n) / float64(c))
		w := math.Min((width-gap*float64(c-1))/float64(c), (height-gap*(rows-1))/rows*16/9)
		if w*w*9/16 > area {
			area, cols = w*w*9/16, c
		}
	}
	return area, cols
}

// run runs actions on b within 10 s.
func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitEval polls expr in b until it is true, for up to within.
func waitEval(t *testing.T, b *browser, what, expr string, within time.Duration) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if ok, _ := eval[bool](b, expr); ok {
			return
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not after %v (%s)", what, within, expr)
		}
	}
}

// emojiJS lists the page's text in emoji ranges: text nodes, generated
// content (::before, ::after) and the attributes people hear (labels,
// tooltips).
const emojiJS = `(() => {
	const emoji = /[\p{Extended_Pictographic}\u{1F000}-\u{1FAFF}\u{2600}-\u{27BF}\u{FE0F}]/u;
	const found = [];
	const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
	while (walker.nextNode()) if (emoji.test(walker.currentNode.data)) found.push(walker.currentNode.data);
	for (const el of document.querySelectorAll('*')) {
		for (const pseudo of ['::before', '::after']) {
			const c = getComputedStyle(el, pseudo).content;
			if (emoji.test(c)) found.push(pseudo + ' ' + c);
		}
		for (const a of ['aria-label', 'title', 'alt']) {
			const v = el.getAttribute(a);
			if (v && emoji.test(v)) found.push(a + ' ' + v);
		}
	}
	return found;
})()`

type rect struct {
	ID       string  `json:"id"`
	X        float64 `json:"x"`
	Y        float64 `json:"y"`
	W        float64 `json:"w"`
	H        float64 `json:"h"`
	Featured bool    `json:"featured"`
}

type stageInfo struct {
	W, H   float64
	Layout string
	Tiles  []rect
}

// stageJS measures the stage and its visible tiles.
const stageJS = `(() => {
	const stage = document.querySelector('#grid');
	const s = stage.getBoundingClientRect();
	return {
		W: stage.clientWidth, H: stage.clientHeight, Layout: stage.dataset.layout,
		Tiles: [...stage.querySelectorAll(':scope > .tile:not([hidden])')].map((el) => {
			const r = el.getBoundingClientRect();
			return { id: el.dataset.participantId || 'local', x: r.x - s.x, y: r.y - s.y, w: r.width, h: r.height, featured: 'featured' in el.dataset };
		}),
	};
})()`

// speakJS has the page's microphone send a voice-like sound: a 220 Hz tone
// with harmonics, its loudness rising and falling four times a second.
const speakJS = `(async () => {
	const ctx = new AudioContext();
	const voice = ctx.createOscillator();
	voice.type = 'sawtooth';
	voice.frequency.value = 220;
	const gain = ctx.createGain();
	gain.gain.value = 0.5;
	const syllables = ctx.createOscillator();
	syllables.frequency.value = 4;
	const depth = ctx.createGain();
	depth.gain.value = 0.4;
	syllables.connect(depth).connect(gain.gain);
	const out = ctx.createMediaStreamDestination();
	voice.connect(gain).connect(out);
	voice.start();
	syllables.start();
	await ctx.resume();
	const sender = window.sfuDebug.client.peerConnection('publisher').getSenders().find((s) => s.track && s.track.kind === 'audio');
	await sender.replaceTrack(out.stream.getAudioTracks()[0]);
	return true;
})()`

// TestBrowserMeetingUI opens the call page for three people and checks,
// on the first one's page (1280x800), what a meeting needs: no emoji
// anywhere (icons are SVG); the list of people with who is muted, opened
// and closed by keyboard; the invite link copied, by the clipboard or by
// the fallback field; tiles as large as the stage allows (the best column
// count for 16:9 tiles); a tile pinned from the keyboard shown large, asked
// for and decoded at a higher layer than the strip's; the speaker view
// following the active speaker; a screen share's tile featured; with three
// more people (Go clients), six on a 390x844 phone: controls in reach,
// tiles side by side without overlap, the list a full-width sheet; and the
// reconnecting overlay while the server is down, gone when it is back.
// SFU_UI_SCREENSHOTS=dir saves what the page looks like there.
func TestBrowserMeetingUI(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	addr := n.Addr().String()
	names := []string{"Ada", "Grace", "Linus"}
	pages, ids, opened := joinRoom(t, exe, n, "meeting-ui", names, "")
	ada, grace := pages[0], pages[1]
	ada.run(t, "viewport", chromedp.EmulateViewport(1280, 800))
	// Grace's camera is the one shown large later: under CPU pressure
	// Chromium would rather drop its upper layers than their resolution.
	keepResolution(t, grace)
	waitDecoding(t, ada, names[0], 0, ids, opened[0])

	// Grace mutes; Ada's tile of her says so.
	grace.run(t, "mute", chromedp.Click(chromedp.CSS("#mic")))
	waitEval(t, ada, "Grace's tile marked muted", fmt.Sprintf(`!!document.querySelector('.tile[data-participant-id=%q][data-audio-muted]')`, ids[1]), 5*time.Second)

	// Grid: every tile as large as the best column count gives.
	waitEval(t, ada, "three tiles", `document.querySelectorAll('#grid > .tile:not([hidden])').length === 3`, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // the tiles' move transition
	st, err := eval[stageInfo](ada, stageJS)
	if err != nil {
		t.Fatal(err)
	}
	if st.W*st.H < 0.6*1280*800 {
		t.Errorf("the stage is %.0fx%.0f, under 60%% of the 1280x800 page", st.W, st.H)
	}
	best, cols := bestTileArea(3, st.W-16, st.H-16, 8)
	for _, r := range st.Tiles {
		if r.W*r.H < 0.95*best || r.X < 0 || r.Y < 0 || r.X+r.W > st.W+1 || r.Y+r.H > st.H+1 {
			t.Errorf("grid on a %.0fx%.0f stage: tile %s is %.0fx%.0f at (%.0f, %.0f); the best layout (%d columns) gives each %.0f px², within the stage",
				st.W, st.H, r.ID, r.W, r.H, r.X, r.Y, cols, best)
		}
	}
	t.Logf("grid on a %.0fx%.0f stage: %+v; best %d columns, %.0f px² a tile", st.W, st.H, st.Tiles, cols, best)

	// No emoji: the muted marker and the rest are SVG icons.
	if found, err := eval[[]string](ada, emojiJS); err != nil || len(found) > 0 {
		t.Errorf("emoji in the page: %q (%v)", found, err)
	}

	// The list of people, opened from the keyboard (Enter on its button).
	ada.run(t, "open the people panel", chromedp.Focus(chromedp.CSS("#people-toggle")), chromedp.KeyEvent("\r"))
	waitEval(t, ada, "the panel lists three", `document.querySelectorAll('#people-list li').length === 3 && !document.querySelector('#people-panel').hidden`, 5*time.Second)
	type person struct {
		Text   string
		Muted  bool
		Active string
		Count  string
	}
	list, err := eval[[]person](ada, `[...document.querySelectorAll('#people-list li')].map((li) => ({
		Text: li.querySelector('.person-name').textContent + li.querySelector('.person-state').textContent, Muted: 'muted' in li.dataset,
		Active: document.activeElement.id, Count: document.querySelector('#people-toggle .count').textContent }))`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range list {
		got = append(got, p.Text)
		graceMuted := strings.HasPrefix(p.Text, "Grace")
		if p.Muted != graceMuted || strings.Contains(p.Text, "microphone off") != graceMuted {
			t.Errorf("people list entry %q: muted %v, want %v", p.Text, p.Muted, graceMuted)
		}
	}
	if len(list) != 3 || !strings.HasPrefix(list[0].Text, "Ada (you)") || !strings.HasPrefix(list[1].Text, "Grace") || !strings.HasPrefix(list[2].Text, "Linus") {
		t.Errorf("people list %q, want Ada (you), Grace, Linus", got)
	}
	if len(list) > 0 && (list[0].Active != "people-close" || list[0].Count != "3") {
		t.Errorf("panel open: focus on %q, count %q; want the close button, 3", list[0].Active, list[0].Count)
	}

	screenshot(t, ada, "meetui-1280x800-people.png")
	// The invite link, by the clipboard.
	want := n.URL() + "room/meeting-ui"
	ada.run(t, "clipboard permission", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: "granted", Origin: strings.TrimSuffix(n.URL(), "/"),
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	ada.run(t, "copy invite", chromedp.Click(chromedp.CSS("#invite-copy")))
	waitEval(t, ada, "Link copied", `document.querySelector('#invite-copied').textContent === 'Link copied'`, 5*time.Second)
	if link, err := eval[string](ada, `navigator.clipboard.readText()`); err != nil || link != want {
		t.Errorf("clipboard holds %q (%v), want %q", link, err, want)
	}
	// Escape closes the panel and gives the focus back to its button.
	ada.run(t, "escape", chromedp.KeyEvent(kb.Escape))
	waitEval(t, ada, "panel closed, focus on its button", `document.querySelector('#people-panel').hidden && document.activeElement.id === 'people-toggle'`, 5*time.Second)
	// Without a clipboard: the link in a field, selected, and a confirmation.
	grace.run(t, "copy without a clipboard", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true }), true)`)(ctx, tg)
		return err
	}),
		chromedp.Click(chromedp.CSS("#people-toggle")), chromedp.Click(chromedp.CSS("#invite-copy")))
	waitEval(t, grace, "the fallback field", fmt.Sprintf(`(() => {
		const f = document.querySelector('#invite-field');
		return !f.hidden && f.value === %q && f.selectionEnd - f.selectionStart === f.value.length && document.querySelector('#invite-copied').textContent !== '';
	})()`, want), 5*time.Second)

	// Ada falls silent too, and Linus speaks: his microphone sends a voice
	// band tone instead of the fake device's short beeps, which Chromium's
	// voice detection mostly takes for silence.
	ada.run(t, "Ada mutes", chromedp.Click(chromedp.CSS("#mic")))
	if _, err := eval[bool](pages[2], speakJS); err != nil {
		t.Fatalf("Linus speaks: %v", err)
	}
	mutedAt := time.Now()

	// Speaker view: Tab to the pin button of Grace's tile, press Enter.
	pinJS := fmt.Sprintf(`document.querySelector('.tile[data-participant-id=%q] .tile-pin')`, ids[1])
	for i := 0; ; i++ {
		if on, _ := eval[bool](ada, `document.activeElement === `+pinJS); on {
			break
		}
		if i == 40 {
			t.Fatal("Tab never reaches the pin button of Grace's tile")
		}
		ada.run(t, "tab", chromedp.KeyEvent("\t"))
	}
	ada.run(t, "pin", chromedp.KeyEvent("\r"))
	waitEval(t, ada, "Grace featured", pinJS+`.getAttribute('aria-pressed') === 'true' && document.querySelector('#grid').dataset.layout === 'speaker'`, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if st, err = eval[stageInfo](ada, stageJS); err != nil {
		t.Fatal(err)
	}
	var big, small rect
	for _, r := range st.Tiles {
		if r.Featured {
			big = r
		}
		if r.ID == ids[2] {
			small = r
		}
	}
	if big.ID != ids[1] {
		t.Fatalf("featured tile %q, want Grace's %s: %+v", big.ID, ids[1], st.Tiles)
	}
	for _, r := range st.Tiles {
		if r.ID != big.ID && r.H*3 > big.H {
			t.Errorf("speaker view: strip tile %s %.0f px high, the featured one %.0f", r.ID, r.H, big.H)
		}
	}
	// Ada's page asks for Grace's top layer and Linus's lowest, and decodes
	// Grace's at a higher resolution than Linus's.
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		asked := map[string]int{}
		state, _ := n.SFU().RoomState("meeting-ui")
		for _, p := range state.Participants {
			for _, sub := range p.Subscriptions {
				if p.ID == ids[0] && sub.Kind == "video" {
					asked[sub.From] = sub.MaxLayer
				}
			}
		}
		if asked[ids[1]] == 2 && asked[ids[2]] == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("speaker view: Ada asks for layers %v, want 2 of Grace (%s) and 0 of Linus (%s)", asked, ids[1], ids[2])
		}
	}
	heights := func() map[string]float64 {
		type in struct {
			ParticipantID string  `json:"participantId"`
			FrameHeight   float64 `json:"frameHeight"`
		}
		stats, _ := eval[[]in](ada, `window.sfuDebug.inboundVideo()`)
		out := map[string]float64{}
		for _, s := range stats {
			out[s.ParticipantID] = math.Max(out[s.ParticipantID], s.FrameHeight)
		}
		return out
	}
	// How soon depends on Grace's Chromium sending more than its lowest
	// layer, which on a busy machine can take it most of a minute.
	for start := time.Now(); ; time.Sleep(250 * time.Millisecond) {
		h := heights()
		if h[ids[1]] > h[ids[2]] && h[ids[2]] > 0 && h[ids[2]] <= 180 {
			t.Logf("speaker view after %v: Grace's featured tile %.0fx%.0f decodes %.0fp, Linus's strip tile %.0f px high decodes %.0fp",
				time.Since(start).Round(time.Millisecond), big.W, big.H, h[ids[1]], small.H, h[ids[2]])
			break
		}
		if time.Since(start) > 45*time.Second {
			top, _ := eval[int](grace, `(async () => {
				let top = 0;
				for (const s of (await window.sfuDebug.client.peerConnection('publisher').getStats()).values()) {
					if (s.type === 'outbound-rtp' && s.kind === 'video' && s.framesPerSecond > 0 && s.frameHeight > top) top = s.frameHeight;
				}
				return top;
			})()`)
			t.Fatalf("speaker view: frame heights %v; want Grace's (%s) above Linus's (%s), his 180p at most; Grace sends %dp at most", h, ids[1], ids[2], top)
		}
	}
	// The view button: unpins, and leaves the speaker view for the grid and back.
	ada.run(t, "speaker view", chromedp.Click(chromedp.CSS("#view")))
	waitEval(t, ada, "speaker view unpinned", pinJS+`.getAttribute('aria-pressed') === 'false' && document.querySelector('#grid').dataset.layout === 'speaker' && document.querySelector('#view').textContent === 'Grid view'`, 5*time.Second)
	// The large tile follows the active speaker: Linus, whose fake
	// microphone beeps while Ada's and Grace's are off.
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		tiles, _ := eval[string](ada, `JSON.stringify([...document.querySelectorAll('#grid > .tile')].map((t) => ({ ...t.dataset })))`)
		if ok, _ := eval[bool](ada, fmt.Sprintf(`!!document.querySelector('.tile[data-participant-id=%q][data-featured][data-active-speaker]')`, ids[2])); ok {
			t.Logf("speaker view follows Linus %v after Ada muted", time.Since(mutedAt).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 20*time.Second {
			state, _ := n.SFU().RoomState("meeting-ui")
			t.Fatalf("speaker view: Linus (%s) not featured as the active speaker %v after Ada muted; tiles %s; room %+v", ids[2], time.Since(mutedAt), tiles, state)
		}
	}
	ada.run(t, "grid view", chromedp.Click(chromedp.CSS("#view")))
	waitEval(t, ada, "grid again", `document.querySelector('#grid').dataset.layout === 'grid'`, 5*time.Second)
	// A screen share's tile (data-source="screen", as screen sharing marks
	// it) is shown large as it arrives, and can be unpinned.
	waitEval(t, ada, "a screen tile featured", `(() => {
		let t = document.querySelector('#screen-test');
		if (!t) {
			t = Object.assign(document.createElement('div'), { id: 'screen-test', className: 'tile' });
			t.dataset.source = 'screen';
			t.append(Object.assign(document.createElement('span'), { className: 'label', textContent: 'Grace (screen)' }));
			document.querySelector('#grid').append(t);
		}
		return 'featured' in t.dataset && document.querySelector('#grid').dataset.layout === 'speaker';
	})()`, 5*time.Second)
	ada.run(t, "unpin the screen", chromedp.Click(chromedp.CSS("#screen-test .tile-pin")))
	waitEval(t, ada, "grid after unpinning the screen", `document.querySelector('#grid').dataset.layout === 'grid' && (document.querySelector('#screen-test').remove(), true)`, 5*time.Second)

	// Three more people (Go clients sending the sample clip): six in the
	// call, on a 1280x800 screen and on a 390x844 phone.
	ids = append(ids, addPublishers(t, n, "meeting-ui", "Margaret", "Katherine", "Barbara")...)
	if os.Getenv("SFU_UI_SCREENSHOTS") != "" {
		waitDecoding(t, ada, names[0], 0, ids, opened[0]) // pictures in every tile
	}
	waitEval(t, ada, "six tiles", `document.querySelectorAll('#grid > .tile:not([hidden])').length === 6`, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	screenshot(t, ada, "meetui-1280x800.png")
	ada.run(t, "pin Grace", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.tile[data-participant-id=%q] .tile-pin`, ids[1]))))
	waitEval(t, ada, "Grace featured among six", pinJS+`.getAttribute('aria-pressed') === 'true'`, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	screenshot(t, ada, "meetui-1280x800-pinned.png")
	ada.run(t, "unpin Grace", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.tile[data-participant-id=%q] .tile-pin`, ids[1]))))
	ada.run(t, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	time.Sleep(500 * time.Millisecond)
	phone, err := eval[struct {
		Overflow []string
		Overlaps int
		Stage    stageInfo
	}](ada, `(() => {
		const overflow = [];
		for (const b of document.querySelectorAll('.controls button:not([hidden])')) {
			const r = b.getBoundingClientRect();
			if (r.left < 0 || r.right > innerWidth || r.top < 0 || r.bottom > innerHeight || r.width < 40 || r.height < 40) overflow.push(b.id + ' ' + JSON.stringify(r));
		}
		const tiles = [...document.querySelectorAll('#grid > .tile:not([hidden])')].map((t) => t.getBoundingClientRect());
		let overlaps = 0;
		for (const a of tiles) for (const b of tiles) {
			if (a !== b && a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps++;
		}
		return { Overflow: overflow, Overlaps: overlaps, Stage: `+stageJS+` };
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	if len(phone.Overflow) > 0 || phone.Overlaps > 0 || len(phone.Stage.Tiles) != 6 {
		t.Errorf("at 390x844: controls out of reach or under 40 px %q, %d overlapping tiles, %d tiles", phone.Overflow, phone.Overlaps, len(phone.Stage.Tiles))
	}
	for _, r := range phone.Stage.Tiles {
		if r.X < 0 || r.X+r.W > phone.Stage.W+1 || r.W < 150 {
			t.Errorf("at 390x844: tile %s %.0fx%.0f at (%.0f, %.0f) on a %.0f px wide stage", r.ID, r.W, r.H, r.X, r.Y, phone.Stage.W)
		}
	}
	t.Logf("at 390x844: %.0fx%.0f stage, tiles %+v", phone.Stage.W, phone.Stage.H, phone.Stage.Tiles)
	screenshot(t, ada, "meetui-390x844.png")
	ada.run(t, "open the panel on the phone", chromedp.Click(chromedp.CSS("#people-toggle")))
	waitEval(t, ada, "a full-width sheet listing six", `(() => {
		const r = document.querySelector('#people-panel').getBoundingClientRect();
		return r.left === 0 && r.width === innerWidth && r.bottom <= innerHeight + 1 && document.querySelectorAll('#people-list li').length === 6;
	})()`, 5*time.Second)
	screenshot(t, ada, "meetui-390x844-people.png")
	ada.run(t, "close the panel", chromedp.Click(chromedp.CSS("#people-close")))

	// The server goes away: the overlay says why and when the next try is.
	waitEval(t, ada, "the mode shown", `document.querySelector('#path').textContent === 'Media: through the server.'`, 5*time.Second)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := n.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	cancel()
	overlay := regexp.MustCompile(`^(The server is shutting down\.|Can't reach the server\.|Lost the connection\.) Reconnecting (in \d+ s|now) \(attempt \d+\)$`)
	var text string
	for start := time.Now(); !overlay.MatchString(text); time.Sleep(100 * time.Millisecond) {
		text, _ = eval[string](ada, `(() => {
			const o = document.querySelector('#overlay');
			return !o.hidden && o.getAttribute('role') === 'alert' && o.querySelector('.spinner') && o.getBoundingClientRect().height > 300 ? o.querySelector('.overlay-text').textContent : '';
		})()`)
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no reconnecting overlay 10 s after the server stopped: %q", text)
		}
	}
	t.Logf("overlay: %q", text)
	screenshot(t, ada, "meetui-390x844-reconnecting.png")
	nodetest.Start(t, func(c *node.Config) {
		sfuPath(c)
		c.Listen = addr
	})
	waitEval(t, ada, "back, without the overlay", `document.body.dataset.state === 'connected' && document.querySelector('#overlay').hidden`, 20*time.Second)
}
