package main

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// TestBrowserJoinRetriesAHungHandshake: the page's first WebSocket
// reaches a front door that never answers its upgrade, which no server
// timeout covers. The page gives that session up 10 s after opening it,
// says it is reconnecting, and joins with its second, where a page
// without the bound would wait forever in "connecting".
func TestBrowserJoinRetriesAHungHandshake(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, nil)
	target, err := url.Parse(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the page's origin, which the node checks WebSockets against
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	var sockets atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" && sockets.Add(1) == 1 {
			<-r.Context().Done() // never answered
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	b := newBrowser(t, exe)
	opened := time.Now()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	err = chromedp.Do(ctx, chromedp.Navigate("http://"+ln.Addr().String()+"/room/hung?prejoin=0&name=Ada"))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for deadline := time.Now().Add(30 * time.Second); b.selfID() == ""; time.Sleep(100 * time.Millisecond) {
		state, _ := eval[string](b, `document.body.dataset.state || ""`)
		if len(states) == 0 || states[len(states)-1] != state {
			states = append(states, state)
		}
		if time.Now().After(deadline) {
			t.Fatalf("never joined: states %v, %d WebSockets", states, sockets.Load())
		}
	}
	took := time.Since(opened)
	t.Logf("joined %v after opening the page, states %v, with WebSocket %d", took.Round(time.Millisecond), states, sockets.Load())
	if sockets.Load() < 2 || took < 10*time.Second {
		t.Errorf("joined after %v with %d WebSockets: the first was never held, the test shows nothing", took, sockets.Load())
	}
	if !slices.Contains(states, "reconnecting") {
		t.Errorf("the page went through %v, want it to say it is reconnecting", states)
	}
}
