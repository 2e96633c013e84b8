package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// addPublishers joins the Go clients names to room, each publishing the
// sample clip in three simulcast layers, and returns their participant IDs.
func addPublishers(t *testing.T, n *node.Node, room string, names ...string) []string {
	t.Helper()
	samples, err := loadtest.LoadSamples()
	if err != nil {
		t.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(n.URL(), "http") + "ws"
	var ids []string
	for _, name := range names {
		tok, err := n.Keys().Mint("dev", signaling.TokenRequest{
			Room: room, Identity: strings.ToLower(name), Name: name,
			Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour,
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: ws, Token: tok, LoopbackOnly: true})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(c.Close)
		if err := c.Publish(loadtest.Media{Samples: samples, Simulcast: true, Audio: true}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids = append(ids, c.Self.ID)
	}
	return ids
}

// screenshot saves what b shows to $SFU_UI_SCREENSHOTS/name, when that
// directory is set, to look at by eye.
func screenshot(t *testing.T, b *browser, name string) {
	t.Helper()
	dir := os.Getenv("SFU_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}
