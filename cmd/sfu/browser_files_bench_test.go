package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/loadtest"
)

// filesBenchEnv runs TestBrowserFileTransferSlowLink, a measurement that
// `make test` leaves out.
const filesBenchEnv = "SFU_FILES_BENCH"

// TestBrowserFileTransferSlowLink measures what a file transfer does to a
// call's video on a slow link, for BENCHMARKS.md: the sfu binary runs in
// a network namespace whose link toward the browsers is limited to
// 2 Mbit/s (tbf), Pub publishes its camera and Sub watches. For a while
// Sub only watches; then Pub sends Sub a file, which crosses the same
// link. It logs Sub's video (frame rate, height, bitrate, stops and
// Chromium's freeze count) in both phases, and the file's throughput. It
// asserts only that the video decodes throughout and the bytes arrive;
// the figures are logged, not judged. Set SFU_FILES_BENCH=1 to run it.
func TestBrowserFileTransferSlowLink(t *testing.T) {
	if os.Getenv(filesBenchEnv) == "" {
		t.Skipf("a measurement: set %s=1 to run it", filesBenchEnv)
	}
	exe := chromiumPath(t)
	lab := loadtest.NewTestLab(t)
	srv := startLabServer(t, lab, "--p2p=false")
	origin := strings.TrimSuffix(srv.base, "/")
	const rate = 2_000_000
	if err := lab.SetEgressRate(rate); err != nil {
		t.Fatal(err)
	}

	names := []string{"Pub", "Sub"}
	pages := []*browser{newLabBrowser(t, exe, origin), newLabBrowser(t, exe, "")}
	opened := make([]time.Time, len(names))
	ids := make([]string, len(names))
	for i, b := range pages {
		opened[i] = time.Now()
		url := fmt.Sprintf("%sroom/%s?prejoin=0&name=%s", srv.base, rateLimitRoom, names[i])
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		cancel()
		if err != nil {
			t.Fatalf("%s: open %s: %v", names[i], url, err)
		}
	}
	for i, b := range pages {
		for deadline := time.Now().Add(20 * time.Second); ids[i] == ""; time.Sleep(100 * time.Millisecond) {
			if ids[i] = b.selfID(); ids[i] == "" && time.Now().After(deadline) {
				t.Fatalf("%s never joined", names[i])
			}
		}
	}
	pub, sub := pages[0], pages[1]
	w := &videoWatch{t: t, b: sub, pub: pub, srv: srv}
	waitDecoding(t, sub, names[1], 1, ids, opened[1])
	// Settle at what the link carries, then measure without a transfer.
	w.collect(10 * time.Second)
	from := time.Now()
	const phase = 20 * time.Second
	w.collect(phase)
	quiet := w.between(from, time.Now())
	t.Logf("%d kbit/s toward the browsers, no transfer: %v; SFU: %s", rate/1000, quiet, srv.roomSummary(rateLimitRoom))

	const size = 16 << 20 // longer than the phase at this rate
	path, _ := testFile(t, "slow.bin", size, 7)
	pub.sendFile(t, ids[1], path)
	sub.clickFile(t, "slow.bin", "file-accept")
	started := time.Now()
	w.collect(phase)
	during := w.between(started, time.Now())
	in := sub.incoming(t, "slow.bin")
	if in == nil || in.Received == 0 {
		t.Fatalf("Sub received nothing of the file: %+v", in)
	}
	secs := time.Since(started).Seconds()
	t.Logf("%d kbit/s toward the browsers, during a transfer: %v; the file came at %.0f kbit/s (%.1f MB in %.0f s); SFU: %s",
		rate/1000, during, in.Received*8/secs/1000, in.Received/1e6, secs, srv.roomSummary(rateLimitRoom))
	if quiet.frames <= 0 || during.frames <= 0 {
		t.Fatalf("Sub's video stopped: %.0f frames without, %.0f during the transfer", quiet.frames, during.frames)
	}
	pub.clickFile(t, "slow.bin", "file-cancel")
}
