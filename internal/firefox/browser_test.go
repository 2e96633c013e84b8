package firefox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// firefoxOrSkip skips the test where Firefox is missing, except in CI
// (CI=true), where `make deps` installs it.
func firefoxOrSkip(t *testing.T) string {
	exe, err := Path()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return exe
}

// TestBrowser starts Firefox, loads a page from loopback, evaluates
// scripts (a value, a promise, an exception), reads the console, and on
// Close leaves no process and no profile behind.
func TestBrowser(t *testing.T) {
	exe := firefoxOrSkip(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>t</title><script>console.warn("page says hi"); window.answer = {n: 42, s: "x"};</script>`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Start(ctx, Options{Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	pid, profile := b.cmd.Process.Pid, b.profile
	defer b.Close()

	if err := b.Navigate(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	var got struct {
		N int
		S string
	}
	if err := b.Eval(ctx, `window.answer`, &got); err != nil || got.N != 42 || got.S != "x" {
		t.Errorf("Eval(window.answer) = %+v, %v", got, err)
	}
	var n int
	if err := b.Eval(ctx, `new Promise(r => setTimeout(() => r(7), 50))`, &n); err != nil || n != 7 {
		t.Errorf("Eval(promise) = %d, %v", n, err)
	}
	if err := b.Eval(ctx, `(() => { throw new Error("boom") })()`, &n); !errors.Is(err, ErrScript) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Eval(throw) = %v", err)
	}
	var fake bool
	if err := b.Eval(ctx, `navigator.mediaDevices.getUserMedia({video: true}).then(s => s.getVideoTracks().length === 1)`, &fake); err != nil || !fake {
		t.Errorf("fake camera on a loopback page: %v, %v", fake, err)
	}
	found := false
	for _, line := range b.Console() {
		found = found || line == "warn: page says hi"
	}
	if !found {
		t.Errorf("console %q lacks the page's warning", b.Console())
	}

	if err := b.Close(); err != nil {
		t.Error(err)
	}
	if err := b.Eval(ctx, `1`, &n); !errors.Is(err, ErrClosed) {
		t.Errorf("Eval after Close = %v", err)
	}
	if _, err := os.Stat(profile); !os.IsNotExist(err) {
		t.Errorf("profile %s left behind", profile)
	}
	if out, _ := exec.Command("pgrep", "-g", strconv.Itoa(pid)).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("processes of group %d left behind: %s", pid, out)
	}
}
