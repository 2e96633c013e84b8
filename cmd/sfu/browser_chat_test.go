package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/signaling"
)

// chatLineJS is the chat line of the page with text, as {name, text,
// links: [{href, rel, target, text}], tags}, or null.
const chatLineJS = `((want) => {
	const li = [...document.querySelectorAll('#chat-log .chat-msg')].find((li) => li.querySelector('.chat-text').textContent === want);
	if (!li) return null;
	return {
		name: li.querySelector('.chat-name').textContent,
		time: li.querySelector('time').textContent,
		links: [...li.querySelectorAll('a')].map((a) => ({ href: a.getAttribute('href'), rel: a.rel, target: a.target, text: a.textContent })),
		tags: [...li.querySelectorAll('.chat-text *')].map((e) => e.tagName.toLowerCase()),
	};
})(%q)`

type chatLink struct{ Href, Rel, Target, Text string }

type chatLine struct {
	Name, Time string
	Links      []chatLink
	Tags       []string
}

// waitChatLine waits until b shows a chat line with text, and returns it.
func waitChatLine(t *testing.T, b *browser, who, text string) chatLine {
	t.Helper()
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if l, err := eval[*chatLine](b, fmt.Sprintf(chatLineJS, text)); err == nil && l != nil {
			return *l
		}
		if time.Since(start) > 10*time.Second {
			log, _ := eval[string](b, `document.querySelector('#chat-log').innerText`)
			t.Fatalf("%s shows no chat line %q; the log: %q", who, text, log)
		}
	}
}

// say writes text in b's chat field and presses Enter.
func say(t *testing.T, b *browser, text string) {
	t.Helper()
	b.run(t, "write "+text, chromedp.SendKeys(chromedp.CSS("#chat-input"), text), chromedp.KeyEvent("\r"))
}

// TestBrowserChat runs the web client's chat between two pages, and a
// third that joins with ?media=0: messages go both ways with the senders'
// names, a message carrying markup shows as text and runs nothing, a link
// is an anchor that opens apart, the closed panel counts unread messages,
// joins and departures are lines of their own, and the ?media=0 page never
// calls getUserMedia, still decodes the others' video and gets the history.
func TestBrowserChat(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, sfuPath)
	names := []string{"Ada", "Grace"}
	pages, ids, opened := joinRoom(t, exe, n, "chat-ui", names, "")
	ada, grace := pages[0], pages[1]

	t.Run("both ways", func(t *testing.T) {
		grace.run(t, "open the chat", chromedp.Click(chromedp.CSS("#chat-toggle")))
		waitEval(t, grace, "the chat field focused", `document.activeElement === document.querySelector('#chat-input')`, 5*time.Second)
		say(t, grace, "hello Ada")
		if l := waitChatLine(t, grace, "Grace", "hello Ada"); l.Name != "Grace (you)" || l.Time == "" {
			t.Errorf("Grace's own line: %+v, want it named Grace (you) with a time", l)
		}
		// Ada's panel is closed: her toggle counts the message.
		waitEval(t, ada, "one unread", `(() => { const c = document.querySelector('#chat-toggle .count'); return !c.hidden && c.textContent === '1' && document.querySelector('#chat-toggle').getAttribute('aria-label') === 'Chat, 1 unread'; })()`, 10*time.Second)
		ada.run(t, "open the chat from the keyboard", chromedp.Focus(chromedp.CSS("#chat-toggle")), chromedp.KeyEvent("\r"))
		waitEval(t, ada, "the count gone", `document.querySelector('#chat-toggle .count').hidden && document.querySelector('#people-panel').hidden`, 5*time.Second)
		if l := waitChatLine(t, ada, "Ada", "hello Ada"); l.Name != "Grace" {
			t.Errorf("Ada shows %+v, want it from Grace", l)
		}
		say(t, ada, "hi Grace")
		if l := waitChatLine(t, grace, "Grace", "hi Grace"); l.Name != "Ada" {
			t.Errorf("Grace shows %+v, want it from Ada", l)
		}
		// One side panel at a time.
		ada.run(t, "open the people panel", chromedp.Click(chromedp.CSS("#people-toggle")))
		waitEval(t, ada, "the chat closed by the people panel", `document.querySelector('#chat-panel').hidden && !document.querySelector('#people-panel').hidden`, 5*time.Second)
		ada.run(t, "back to the chat", chromedp.Click(chromedp.CSS("#chat-toggle")))
		waitEval(t, ada, "the people panel closed by the chat", `!document.querySelector('#chat-panel').hidden && document.querySelector('#people-panel').hidden`, 5*time.Second)
	})

	t.Run("markup is text", func(t *testing.T) {
		const payload = `<img src=x onerror="window.chatPwned=1"><script>window.chatPwned=2</script><b>bold</b>`
		say(t, grace, payload)
		for _, p := range []struct {
			who string
			b   *browser
		}{{"Ada", ada}, {"Grace", grace}} {
			l := waitChatLine(t, p.b, p.who, payload)
			if len(l.Tags) != 0 {
				t.Errorf("%s made elements of the message: %v", p.who, l.Tags)
			}
			time.Sleep(200 * time.Millisecond) // an onerror would have run by now
			bad, err := eval[string](p.b, `String(window.chatPwned) + ':' + document.querySelectorAll('#chat-log img, #chat-log script, #chat-log b').length`)
			if err != nil || bad != "undefined:0" {
				t.Errorf("%s: chatPwned:elements = %q (%v), want undefined:0", p.who, bad, err)
			}
		}
	})

	t.Run("links", func(t *testing.T) {
		const text = "see https://example.com/a?b=1&c=2, not javascript:alert(1) nor ftp://example.com"
		say(t, grace, text)
		l := waitChatLine(t, ada, "Ada", text)
		want := []chatLink{{Href: "https://example.com/a?b=1&c=2", Rel: "noopener noreferrer", Target: "_blank", Text: "https://example.com/a?b=1&c=2"}}
		if fmt.Sprint(l.Links) != fmt.Sprint(want) {
			t.Errorf("links %+v, want %+v", l.Links, want)
		}
	})

	t.Run("chat-only join", func(t *testing.T) {
		// A tab of Grace's browser, with an identity of its own.
		tok, err := n.Keys().Mint("dev", signaling.TokenRequest{Room: "chat-ui", Identity: "viewer", Name: "Viewer",
			Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tab, cancel := chromedp.NewContext(grace.ctx)
		viewer := &browser{ctx: tab, cancel: cancel}
		defer cancel()
		// The first action on a tab opens it, and it lives as long as
		// that action's context: tab itself.
		if err := chromedp.Do(tab); err != nil {
			t.Fatal(err)
		}
		ctx, done := context.WithTimeout(tab, 20*time.Second)
		err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: gumWatchJS})
			return err
		}), chromedp.Navigate(n.URL()+"room/chat-ui?prejoin=0&media=0&token="+tok))
		done()
		if err != nil {
			t.Fatal(err)
		}
		since := time.Now()
		waitEval(t, viewer, "the viewer joined", `!!(window.sfuDebug && window.sfuDebug.client.self)`, 20*time.Second)
		waitDecoding(t, viewer, "Viewer", -1, ids, since)
		_ = opened
		if calls, err := eval[float64](viewer, `window.gum.calls`); err != nil || calls != 0 {
			t.Errorf("the ?media=0 page called getUserMedia %v times (%v)", calls, err)
		}
		waitEval(t, viewer, "no camera or microphone buttons", `document.querySelector('#mic').hidden && document.querySelector('#cam').hidden`, 5*time.Second)
		viewer.run(t, "open the chat", chromedp.Click(chromedp.CSS("#chat-toggle")))
		if l := waitChatLine(t, viewer, "Viewer", "hello Ada"); l.Name != "Grace" {
			t.Errorf("the viewer's history shows %+v", l)
		}
		waitChatLine(t, viewer, "Viewer", "hi Grace")
		waitEval(t, ada, "a line saying the viewer joined", `[...document.querySelectorAll('#chat-log .chat-system')].some((e) => e.textContent === 'Viewer joined')`, 10*time.Second)
		say(t, viewer, "watching only")
		waitChatLine(t, ada, "Ada", "watching only")
		viewer.run(t, "leave", chromedp.Click(chromedp.CSS("#leave")))
		waitEval(t, ada, "a line saying the viewer left", `[...document.querySelectorAll('#chat-log .chat-system')].some((e) => e.textContent === 'Viewer left')`, 10*time.Second)
		// The history shows once: no line is repeated.
		if dup, err := eval[int](ada, `(() => { const t = [...document.querySelectorAll('#chat-log .chat-msg')].map((li) => li.dataset.id); return t.length - new Set(t).size; })()`); err != nil || dup != 0 {
			t.Errorf("Ada shows %d repeated lines (%v)", dup, err)
		}
	})
	screenshot(t, ada, "chat.png")
}
