package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testFile writes size deterministic bytes (a seeded ChaCha8 stream) to
// a file named name in a temporary directory; it returns the path and
// the SHA-256 in hex.
func testFile(t *testing.T, name string, size int, seed byte) (string, string) {
	t.Helper()
	var key [32]byte
	key[0] = seed
	data := make([]byte, size)
	_, _ = rand.NewChaCha8(key).Read(data)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:])
}

// sparseFile makes a file of size zero bytes that takes no disk, for
// transfers whose content the test does not check.
func sparseFile(t *testing.T, name string, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err == nil {
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// fileIn is an incoming transfer as the page's files report shows it.
type fileIn struct {
	ID       string  `json:"id"`
	From     string  `json:"from"`
	Name     string  `json:"name"`
	Size     float64 `json:"size"`
	State    string  `json:"state"`
	Received float64 `json:"received"`
	Direct   bool    `json:"direct"`
	Reason   string  `json:"reason"`
	Hash     string  `json:"hash"`
	OK       *bool   `json:"ok"`
	BlobSize float64 `json:"blobSize"`
}

// fileReceiver is one receiver of an outgoing transfer.
type fileReceiver struct {
	State    string  `json:"state"`
	Acked    float64 `json:"acked"`
	Resent   float64 `json:"resent"`
	Verified *bool   `json:"verified"`
	Reason   string  `json:"reason"`
}

// fileOut is an outgoing transfer as the page's files report shows it.
type fileOut struct {
	ID        string                  `json:"id"`
	Name      string                  `json:"name"`
	Size      float64                 `json:"size"`
	State     string                  `json:"state"`
	Direct    bool                    `json:"direct"`
	Hash      string                  `json:"hash"`
	Receivers map[string]fileReceiver `json:"receivers"`
}

type filesReport struct {
	Incoming []fileIn  `json:"incoming"`
	Outgoing []fileOut `json:"outgoing"`
}

// files is the page's report of its transfers; empty when the page did
// not answer (a busy machine: the callers poll).
func (b *browser) files(t *testing.T) filesReport {
	t.Helper()
	r, err := eval[filesReport](b, `window.sfuDebug.files.report()`)
	if err != nil {
		t.Logf("files report: %v", err)
	}
	return r
}

// incoming is the page's incoming transfer named name, or nil.
func (b *browser) incoming(t *testing.T, name string) *fileIn {
	for _, f := range b.files(t).Incoming {
		if f.Name == name {
			return &f
		}
	}
	return nil
}

// outgoing is the page's outgoing transfer named name, or nil.
func (b *browser) outgoing(t *testing.T, name string) *fileOut {
	for _, f := range b.files(t).Outgoing {
		if f.Name == name {
			return &f
		}
	}
	return nil
}

// sendFile sends the file at path to participant to ("" for everyone)
// the way a person does: choosing in the Files panel's "Send to" and
// picking the file in its file input.
func (b *browser) sendFile(t *testing.T, to, path string) {
	t.Helper()
	if _, err := eval[bool](b, fmt.Sprintf(`(() => {
		const s = document.getElementById('files-panel-to');
		s.value = %q;
		return s.value === %q;
	})()`, to, to)); err != nil {
		t.Fatalf("choose recipient: %v", err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("files-panel-input"), []string{path})); err != nil {
		t.Fatalf("set the file input: %v", err)
	}
}

// clickFile clicks the button of class button in the page's entry of
// transfer name, once it is there.
func (b *browser) clickFile(t *testing.T, name, button string) {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		for (const li of document.querySelectorAll('#files-panel li.file')) {
			if (li.querySelector('.file-name').textContent !== %q) continue;
			const b = li.querySelector('.%s');
			if (b) { b.click(); return true; }
		}
		return false;
	})()`, name, button)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ok, _ := eval[bool](b, js); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s button for %s", button, name)
		}
	}
}

// waitIncoming waits until the page has an incoming transfer named name
// for which ok holds, and returns it.
func (b *browser) waitIncoming(t *testing.T, who, name string, within time.Duration, ok func(fileIn) bool) fileIn {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		f := b.incoming(t, name)
		if f != nil && ok(*f) {
			return *f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: transfer %s is %+v", who, name, f)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dataChannelBytes is what the page sent and received on data channels
// labelled label of its connection target ("publisher" or "peer").
func (b *browser) dataChannelBytes(t *testing.T, target, label string) (sent, received float64) {
	t.Helper()
	v, err := eval[[]float64](b, fmt.Sprintf(`(async () => {
		const pc = window.sfuDebug.client.peerConnection(%q);
		let s = 0, r = 0;
		if (pc) (await pc.getStats()).forEach((x) => {
			if (x.type === 'data-channel' && x.label === %q) { s += x.bytesSent || 0; r += x.bytesReceived || 0; }
		});
		return [s, r];
	})()`, target, label))
	if err != nil || len(v) != 2 {
		t.Fatalf("data channel stats: %v", err)
	}
	return v[0], v[1]
}
