package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
)

// TestBrowserFileTransfer sends files between real web clients: the
// streaming SHA-256 against known answers; in a call of two that runs
// peer to peer, a file goes over the direct connection (the publisher
// connection's data channels carry next to nothing meanwhile) and its
// hash matches; a receiver declines, and sender and receiver cancel.
func TestBrowserFileTransfer(t *testing.T) {
	exe := chromiumPath(t)
	n := nodetest.Start(t, func(c *node.Config) { c.Signaling.MaxFileBytes = 64 << 20 })
	url := func(room, name string) string { return fmt.Sprintf("%sroom/%s?prejoin=0&name=%s", n.URL(), room, name) }

	ada := newP2PBrowser(t, exe)
	grace := newP2PBrowser(t, exe)
	pages := []*browser{ada, grace}
	names := []string{"Ada", "Grace"}
	ids := []string{ada.open(t, url("files-duo", "Ada"), "Ada"), grace.open(t, url("files-duo", "Grace"), "Grace")}

	t.Run("sha256", func(t *testing.T) {
		failures, err := eval[[]string](ada, `window.sfuDebug.sha256SelfTest()`)
		if err != nil || len(failures) != 0 {
			t.Fatalf("SHA-256 known answers: %v %v", failures, err)
		}
		// The check can fail: one bit of difference changes the digest.
		other, _ := eval[string](ada, `new window.sfuDebug.Sha256().update(new TextEncoder().encode('abd')).hex()`)
		if other == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
			t.Fatal(`SHA-256 of "abd" is that of "abc"`)
		}
	})

	t.Run("peer to peer", func(t *testing.T) {
		waitPath(t, pages, names, ids, "p2p", 30*time.Second)
		const size = 20 << 20
		path, sum := testFile(t, "direct.bin", size, 1)
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
		if peerSent < size || pubSent-pubSent0 > 64<<10 {
			t.Fatalf("Ada sent %.0f bytes on the direct channel and %.0f through the server; want the file (%d) direct", peerSent, pubSent-pubSent0, size)
		}
		t.Logf("%d MB peer to peer in %v (%.1f MB/s), hash matches; %.0f bytes on the server's channel", size>>20, took.Round(time.Millisecond), float64(size)/1e6/took.Seconds(), pubSent-pubSent0)
	})

	t.Run("decline and cancel", func(t *testing.T) {
		small, _ := testFile(t, "declined.txt", 1000, 2)
		ada.sendFile(t, "", small)
		grace.clickFile(t, "declined.txt", "file-decline")
		waitOut(t, ada, "declined.txt", func(f fileOut) bool { return f.Receivers[ids[1]].State == "declined" })

		big, _ := testFile(t, "cancelled.bin", 60<<20, 3)
		ada.sendFile(t, "", big)
		grace.clickFile(t, "cancelled.bin", "file-accept")
		grace.waitIncoming(t, "Grace", "cancelled.bin", 20*time.Second, func(f fileIn) bool { return f.Received > 0 })
		ada.clickFile(t, "cancelled.bin", "file-cancel")
		in := grace.waitIncoming(t, "Grace", "cancelled.bin", 10*time.Second, func(f fileIn) bool { return f.State == "cancelled" })
		if in.Received >= in.Size {
			t.Fatalf("the cancelled transfer arrived whole: %+v", in)
		}

		big2, _ := testFile(t, "stopped.bin", 60<<20, 4)
		ada.sendFile(t, "", big2)
		grace.clickFile(t, "stopped.bin", "file-accept")
		grace.waitIncoming(t, "Grace", "stopped.bin", 20*time.Second, func(f fileIn) bool { return f.Received > 0 })
		grace.clickFile(t, "stopped.bin", "file-cancel")
		waitOut(t, ada, "stopped.bin", func(f fileOut) bool { return f.Receivers[ids[1]].State == "cancelled" })

		// Over the size the server announced (64 MiB here): refused before anything is sent.
		huge, _ := testFile(t, "huge.bin", 65<<20, 5)
		ada.sendFile(t, "", huge)
		time.Sleep(300 * time.Millisecond)
		if out := ada.outgoing(t, "huge.bin"); out != nil {
			t.Fatalf("a file over maxFileBytes was offered: %+v", out)
		}
		said, _ := eval[string](ada, `document.querySelector('#files-panel .files-live').textContent`)
		if said == "" {
			t.Fatal("the page said nothing about the file over the limit")
		}
		t.Logf("over the limit, the page says %q", said)
	})
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
