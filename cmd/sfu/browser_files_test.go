package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// TestBrowserFileTransfer sends files between real web clients. Three
// pages through the SFU: a 50 MB file from one to the two others, whose
// SHA-256 each receiver finds equal to the sender's and to Go's, while
// every page keeps decoding the others' video; a receiver declines, the
// sender cancels, a receiver cancels, a file over the server's
// maxFileBytes is refused. Two pages that go peer to peer: a file goes
// over their direct connection (the server forwards no data meanwhile)
// and its hash matches. And the streaming SHA-256 against known answers.
func TestBrowserFileTransfer(t *testing.T) {
	exe := chromiumPath(t)
	// The server runs as its own process, built without the race
	// detector: through it, under the detector, 50 MB took 66 s at
	// 0.8 MB/s (most of the suite's longest test), which measured the
	// detector's cost in SCTP rather than the transfer's.
	n := startP2PServer(t, `sfu:
  remote_networks: ["127.0.0.0/8"]
  data:
    # Above what the browsers send here: the default rate (4 MiB/s a
    # sender) would make the test long; the pacer's work under it is
    # the next subtest's.
    bytes_per_second: 268435456
    byte_burst: 67108864
    messages_per_second: 20000
    message_burst: 20000
signaling:
  max_file_bytes: 134217728
`)
	pageURL := func(room, name string) string { return fmt.Sprintf("%sroom/%s?prejoin=0&name=%s", n.URL(), room, name) }

	t.Run("through the server", func(t *testing.T) {
		names := []string{"Ada", "Grace", "Linus"}
		pages, ids := joinDecoding(t, exe, n, "files-trio", names, "")
		ada, grace, linus := pages[0], pages[1], pages[2]

		failures, err := eval[[]string](ada, `window.sfuDebug.sha256SelfTest()`)
		if err != nil || len(failures) != 0 {
			t.Fatalf("SHA-256 known answers: %v %v", failures, err)
		}
		// The check can fail: one bit of difference changes the digest.
		if other, _ := eval[string](ada, `new window.sfuDebug.Sha256().update(new TextEncoder().encode('abd')).hex()`); other == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
			t.Fatal(`SHA-256 of "abd" is that of "abc"`)
		}

		dataAPI(t, ada, grace, ids[0], ids[1])

		const size = 50 << 20
		path, sum := testFile(t, "fifty.bin", size, 1)
		frames := make([]map[string]float64, len(pages))
		for i, p := range pages {
			frames[i], _ = p.decoded()
		}
		before := scrapeNode(t, n)
		start := time.Now()
		ada.sendFile(t, "", path)
		grace.clickFile(t, "fifty.bin", "file-accept")
		linus.clickFile(t, "fifty.bin", "file-accept")
		half := false
		for _, r := range []*browser{grace, linus} {
			r.waitIncoming(t, "receiver", "fifty.bin", 120*time.Second, func(f fileIn) bool {
				if !half && f.Received >= size/2 && f.State == "receiving" {
					half = true
					videoRising(t, pages, names, ids, frames, "half way")
				}
				return f.State == "done" || f.State == "failed" || f.State == "cancelled"
			})
		}
		took := time.Since(start)
		videoRising(t, pages, names, ids, frames, "at the end")
		for i, r := range []*browser{grace, linus} {
			got := r.incoming(t, "fifty.bin")
			if got.State != "done" || got.Direct || got.Hash != sum || got.OK == nil || !*got.OK || got.BlobSize != size {
				t.Fatalf("%s got %+v; want %d bytes through the server, hash %s verified", names[i+1], got, size, sum)
			}
		}
		out := waitOut(t, ada, "fifty.bin", func(f fileOut) bool { return f.State == "done" })
		for _, id := range ids[1:] {
			if r := out.Receivers[id]; r.State != "done" || r.Verified == nil || !*r.Verified {
				t.Fatalf("Ada's side of %s: %+v", id, r)
			}
			t.Logf("to %s: %.0f bytes sent again after losses", id, out.Receivers[id].Resent)
		}
		after := scrapeNode(t, n)
		fwd := after["sfu_data_bytes_forwarded_total"] - before["sfu_data_bytes_forwarded_total"]
		if fwd < 2*size {
			t.Fatalf("the server forwarded %.0f data bytes, want at least twice the file (%d)", fwd, size)
		}
		t.Logf("%d MB to two receivers through the server in %v: %.1f MB/s to each; the server forwarded %.1f MB", size>>20, took.Round(time.Millisecond), float64(size)/1e6/took.Seconds(), fwd/1e6)

		slowReceiver(t, ada, grace, linus, ids)
		declineAndCancel(t, ada, grace, ids[1])

		// Over the size the server announced (128 MiB here): refused before anything is sent.
		huge := sparseFile(t, "huge.bin", 129<<20)
		ada.sendFile(t, "", huge)
		time.Sleep(300 * time.Millisecond)
		if out := ada.outgoing(t, "huge.bin"); out != nil {
			t.Fatalf("a file over maxFileBytes was offered: %+v", out)
		}
		said, _ := eval[string](ada, `document.querySelector('#files-panel .files-problem').textContent`)
		if !strings.Contains(said, "huge.bin: The file is larger than the largest allowed here (134 MB)") {
			t.Fatalf("the page says %q about the file over the limit", said)
		}
		t.Logf("over the limit, the page says %q", said)

		// A sender who leaves mid-transfer: the receiver's transfer ends, and what it held goes.
		left, _ := testFile(t, "abandoned.bin", 60<<20, 8)
		linus.sendFile(t, ids[1], left)
		grace.clickFile(t, "abandoned.bin", "file-accept")
		grace.waitIncoming(t, "Grace", "abandoned.bin", 20*time.Second, func(f fileIn) bool { return f.Received > 0 })
		leaveCtx, cancel := context.WithTimeout(linus.ctx, 10*time.Second)
		err = chromedp.Do(leaveCtx, chromedp.Click(chromedp.ID("leave")))
		cancel()
		if err != nil {
			t.Fatalf("Linus: click leave: %v", err)
		}
		gone := grace.waitIncoming(t, "Grace", "abandoned.bin", 10*time.Second, func(f fileIn) bool { return f.State == "cancelled" })
		if gone.Received >= gone.Size || gone.BlobSize != -1 || gone.Reason != "The sender left." {
			t.Fatalf("Grace's transfer from Linus, who left: %+v", gone)
		}
	})

	// At the server's default rate (4 MiB/s a sender), which joined
	// announces: the sender paces itself under it, so the server refuses
	// none of its chunks (no rate_limited) and none is sent twice.
	t.Run("at the default rate", func(t *testing.T) {
		d := nodetest.Start(t, nil)
		names := []string{"Ada", "Grace"}
		// Two pages would go peer to peer: keep them on the server.
		pages, ids := joinDecoding(t, exe, d, "files-paced", names, "&p2p=0")
		ada, grace := pages[0], pages[1]
		if _, err := eval[bool](ada, `(() => {
			window.limited = 0;
			window.sfuDebug.client.addEventListener('data_error', ({ detail }) => { if (detail.code === 'rate_limited') window.limited++; });
			return true;
		})()`); err != nil {
			t.Fatal(err)
		}
		// Four times the server's burst (8 MiB): faster than its rate
		// (4 MiB/s), the server would refuse some of it.
		const size = 32 << 20
		path, sum := testFile(t, "paced.bin", size, 3)
		start := time.Now()
		ada.sendFile(t, ids[1], path)
		grace.clickFile(t, "paced.bin", "file-accept")
		got := grace.waitIncoming(t, "Grace", "paced.bin", 60*time.Second, func(f fileIn) bool { return f.State != "receiving" && f.State != "offered" })
		took := time.Since(start)
		if got.State != "done" || got.Hash != sum || got.OK == nil || !*got.OK {
			t.Fatalf("Grace got %+v; want %d bytes, hash %s verified", got, size, sum)
		}
		out := waitOut(t, ada, "paced.bin", func(f fileOut) bool { return f.State == "done" })
		limited, err := eval[int](ada, `window.limited`)
		if err != nil || limited != 0 {
			t.Errorf("the server refused Ada's data for its rate %d times (%v); want none", limited, err)
		}
		t.Logf("%d MiB at the default rate limit in %v: %.2f MB/s, %.0f bytes sent again, %d rate_limited errors",
			size>>20, took.Round(time.Millisecond), float64(size)/1e6/took.Seconds(), out.Receivers[ids[1]].Resent, limited)
	})

	t.Run("peer to peer", func(t *testing.T) {
		ada := newP2PBrowser(t, exe)
		grace := newP2PBrowser(t, exe)
		pages := []*browser{ada, grace}
		names := []string{"Ada", "Grace"}
		ids := []string{ada.open(t, pageURL("files-duo", "Ada"), "Ada"), grace.open(t, pageURL("files-duo", "Grace"), "Grace")}
		waitPath(t, pages, names, ids, "p2p", 30*time.Second)
		const size = 20 << 20
		path, sum := testFile(t, "direct.bin", size, 6)
		before := scrapeNode(t, n)
		pubSent0, _ := ada.dataChannelBytes(t, "publisher", "sfu")
		start := time.Now()
		ada.sendFile(t, ids[1], path)
		grace.clickFile(t, "direct.bin", "file-accept")
		got := grace.waitIncoming(t, "Grace", "direct.bin", 60*time.Second, func(f fileIn) bool { return f.State == "done" })
		took := time.Since(start)
		if !got.Direct || got.Hash != sum || got.OK == nil || !*got.OK || got.BlobSize != size {
			t.Fatalf("Grace got %+v; want it direct, %d bytes, hash %s verified", got, size, sum)
		}
		out := ada.outgoing(t, "direct.bin")
		if out == nil || !out.Direct || out.Receivers[ids[1]].State != "done" || !*out.Receivers[ids[1]].Verified {
			t.Fatalf("Ada's side: %+v", out)
		}
		peerSent, _ := ada.dataChannelBytes(t, "peer", "files")
		pubSent, _ := ada.dataChannelBytes(t, "publisher", "sfu")
		after := scrapeNode(t, n)
		fwd := after["sfu_data_bytes_forwarded_total"] - before["sfu_data_bytes_forwarded_total"]
		if peerSent < size || pubSent-pubSent0 > 0 || fwd != 0 {
			t.Fatalf("Ada sent %.0f bytes on the direct channel and %.0f on the server's, which forwarded %.0f; want the file (%d) direct, nothing through the server",
				peerSent, pubSent-pubSent0, fwd, size)
		}
		t.Logf("%d MB peer to peer in %v (%.1f MB/s), hash matches; the server forwarded no data", size>>20, took.Round(time.Millisecond), float64(size)/1e6/took.Seconds())

		// A third joins mid-transfer: the call goes back to the server, and the direct
		// transfer stops on both sides, saying why.
		linus := newP2PBrowser(t, exe)
		ada.sendFile(t, ids[1], sparseFile(t, "switched.bin", 120<<20))
		grace.clickFile(t, "switched.bin", "file-accept")
		grace.waitIncoming(t, "Grace", "switched.bin", 20*time.Second, func(f fileIn) bool { return f.Received > 0 })
		linus.open(t, pageURL("files-duo", "Linus"), "Linus")
		in := grace.waitIncoming(t, "Grace", "switched.bin", 20*time.Second, func(f fileIn) bool { return f.State != "receiving" })
		if in.State != "failed" || in.Received >= in.Size || !strings.Contains(in.Reason, "moved to the server") {
			t.Fatalf("Grace's direct transfer when a third joined: %+v", in)
		}
		sw := waitOut(t, ada, "switched.bin", func(f fileOut) bool { return f.State != "sending" })
		if r := sw.Receivers[ids[1]]; r.State != "failed" || !strings.Contains(r.Reason, "moved to the server") {
			t.Fatalf("Ada's direct transfer when a third joined: %+v", r)
		}
		t.Logf("a third joined at %.0f of %.0f bytes: %q", in.Received, in.Size, in.Reason)
	})
}

// dataAPI checks the web client's application data: a lossy message
// arrives with its sender, topic and payload; a reserved topic throws
// before sending; a message over the server's limit comes back as a
// data_error event.
func dataAPI(t *testing.T, a, b *browser, aID, bID string) {
	t.Helper()
	if _, err := eval[bool](b, `(() => {
		window.dataSeen = [];
		window.sfuDebug.client.addEventListener('data', ({ detail }) => {
			if (detail.topic === 'cursor') window.dataSeen.push({ from: detail.from, topic: detail.topic, text: new TextDecoder().decode(detail.payload), lossy: detail.lossy });
		});
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		From, Topic, Text string
		Lossy             bool
	}
	sent, err := eval[[]any](a, fmt.Sprintf(`(async () => {
		const c = window.sfuDebug.client;
		window.dataErrors = [];
		c.addEventListener('data_error', ({ detail }) => window.dataErrors.push(detail.code));
		let reserved = '';
		try { c.sendData('x', { topic: 'sfu.mine' }); } catch (e) { reserved = e.message; }
		const ok = c.sendData('hello', { topic: 'cursor', to: [%q], lossy: true });
		c.sendData(new Uint8Array(70 << 10), { topic: 'big' });
		return [ok, reserved];
	})()`, bID))
	if err != nil || len(sent) != 2 || sent[0] != true || !strings.Contains(fmt.Sprint(sent[1]), "reserved") {
		t.Fatalf("sendData: %v %v; want true and an error for the reserved topic", sent, err)
	}
	// Lossy messages may be dropped (the server drops them first when the
	// link is short): send again until one arrives.
	resend := fmt.Sprintf(`window.sfuDebug.client.sendData('hello', { topic: 'cursor', to: [%q], lossy: true })`, bID)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, _ := eval[[]seen](b, `window.dataSeen`)
		codes, _ := eval[[]string](a, `window.dataErrors`)
		if len(got) > 0 && got[0] == (seen{aID, "cursor", "hello", true}) && strings.Contains(strings.Join(codes, ","), "data_too_large") {
			break
		}
		if len(got) == 0 {
			_, _ = eval[bool](a, resend)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Grace saw %+v, Ada's data errors %v; want one lossy 'hello' on cursor from %s, and data_too_large", got, codes, aID)
		}
	}
}

// slowReceiver: Linus holds back his acknowledgements while a file goes
// to him and Grace. Grace gets all of it; the sender has at most its
// window unacknowledged toward Linus. Once Linus acknowledges again, the
// sender goes on from where he is and his copy is whole too.
func slowReceiver(t *testing.T, ada, grace, linus *browser, ids []string) {
	t.Helper()
	const size = 8 << 20
	const window = 768 << 10 // filetransfer.js WINDOW
	path, sum := testFile(t, "slow.bin", size, 9)
	if _, err := eval[bool](linus, `(() => {
		const c = window.sfuDebug.client;
		const send = c.sendData.bind(c);
		window.holdAcks = true;
		c.sendData = (payload, o) => (window.holdAcks && o && o.topic === 'file' && payload[0] === 5) ? true : send(payload, o);
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
	ada.sendFile(t, "", path)
	grace.clickFile(t, "slow.bin", "file-accept")
	linus.clickFile(t, "slow.bin", "file-accept")
	got := grace.waitIncoming(t, "Grace", "slow.bin", 60*time.Second, func(f fileIn) bool { return f.State != "receiving" && f.State != "offered" })
	if got.State != "done" || got.Hash != sum {
		t.Fatalf("Grace, beside a receiver that acknowledges nothing: %+v", got)
	}
	held := linus.incoming(t, "slow.bin")
	out := ada.outgoing(t, "slow.bin")
	if held == nil || out == nil || held.Received > window || out.Receivers[ids[2]].Acked != 0 || out.Receivers[ids[2]].State != "sending" {
		t.Fatalf("Linus, acknowledging nothing, has %+v; Ada's side %+v; want at most the window (%d) sent to him", held, out, window)
	}
	t.Logf("Grace got all %d bytes while Linus, acknowledging nothing, got %.0f", size, held.Received)
	if _, err := eval[bool](linus, `(window.holdAcks = false, true)`); err != nil {
		t.Fatal(err)
	}
	done := linus.waitIncoming(t, "Linus", "slow.bin", 60*time.Second, func(f fileIn) bool { return f.State != "receiving" })
	if done.State != "done" || done.Hash != sum {
		t.Fatalf("Linus after acknowledging again: %+v", done)
	}
}

// declineAndCancel: receiver (participant rid) declines a file from
// sender; then sender cancels one under way, then receiver does.
func declineAndCancel(t *testing.T, sender, receiver *browser, rid string) {
	t.Helper()
	small, _ := testFile(t, "declined.txt", 1000, 2)
	sender.sendFile(t, rid, small)
	receiver.clickFile(t, "declined.txt", "file-decline")
	waitOut(t, sender, "declined.txt", func(f fileOut) bool { return f.Receivers[rid].State == "declined" })

	big, _ := testFile(t, "cancelled.bin", 60<<20, 3)
	sender.sendFile(t, rid, big)
	receiver.clickFile(t, "cancelled.bin", "file-accept")
	receiver.waitIncoming(t, "receiver", "cancelled.bin", 20*time.Second, func(f fileIn) bool { return f.Received > 0 })
	sender.clickFile(t, "cancelled.bin", "file-cancel")
	in := receiver.waitIncoming(t, "receiver", "cancelled.bin", 10*time.Second, func(f fileIn) bool { return f.State == "cancelled" })
	if in.Received >= in.Size {
		t.Fatalf("the cancelled transfer arrived whole: %+v", in)
	}

	big2, _ := testFile(t, "stopped.bin", 60<<20, 4)
	sender.sendFile(t, rid, big2)
	receiver.clickFile(t, "stopped.bin", "file-accept")
	receiver.waitIncoming(t, "receiver", "stopped.bin", 20*time.Second, func(f fileIn) bool { return f.Received > 0 })
	receiver.clickFile(t, "stopped.bin", "file-cancel")
	waitOut(t, sender, "stopped.bin", func(f fileOut) bool { return f.Receivers[rid].State == "cancelled" })
}

// videoRising checks that every page decoded more frames of every other
// page's video than in last, and updates last.
func videoRising(t *testing.T, pages []*browser, names, ids []string, last []map[string]float64, when string) {
	t.Helper()
	for i, p := range pages {
		got, err := p.decoded()
		if err != nil {
			t.Fatalf("%s: stats: %v", names[i], err)
		}
		for j, id := range ids {
			if j != i && got[id] <= last[i][id] {
				t.Errorf("%s: %s's video decoded %.0f frames %s, %.0f before: not rising", names[i], names[j], got[id], when, last[i][id])
			}
		}
		last[i] = got
	}
}

// joinDecoding opens a page per name in room on n and waits until each
// decodes the others; the pages close when the (sub)test ends.
func joinDecoding(t *testing.T, exe string, n server, room string, names []string, query string) ([]*browser, []string) {
	t.Helper()
	pages, ids, opened := joinRoom(t, exe, n, room, names, query)
	t.Cleanup(func() {
		for _, p := range pages {
			p.cancel()
		}
	})
	for i, p := range pages {
		waitDecoding(t, p, names[i], i, ids, opened[i])
	}
	return pages, ids
}

// scrapeNode reads the node's unlabelled metrics.
func scrapeNode(t *testing.T, n server) map[string]float64 {
	t.Helper()
	u, err := url.Parse(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	m, err := scrape(u.Host)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return m
}

// waitOut waits until the page's outgoing transfer name satisfies ok.
func waitOut(t *testing.T, b *browser, name string, ok func(fileOut) bool) fileOut {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		f := b.outgoing(t, name)
		if f != nil && ok(*f) {
			return *f
		}
		if time.Now().After(deadline) {
			t.Fatalf("outgoing %s is %+v", name, f)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
