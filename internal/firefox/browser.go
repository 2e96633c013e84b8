package firefox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Start.
type Options struct {
	// Exe is the Firefox binary; empty: Path's answer.
	Exe string
	// Direct lists the hosts (e.g. "10.77.3.2") the pages are loaded
	// from: they bypass the proxy that keeps Firefox off the network,
	// and are treated as secure origins, so that a page served over plain
	// http on them may use the camera.
	Direct []string
	// Prefs are extra preferences for the profile's user.js; they
	// override the defaults.
	Prefs map[string]any
}

// Browser is one headless Firefox with its own profile, driven over one
// WebDriver BiDi session. Its methods may be called from several
// goroutines.
type Browser struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returned
	profile string
	stderr  *stderrLog
	conn    *conn
	context string // the browsing context (tab) the pages are opened in

	mu      sync.Mutex // guards console
	console []string

	closeOnce sync.Once
	closeErr  error
}

// maxConsole bounds the console lines kept.
const maxConsole = 500

// Path finds Firefox: firefox-esr, then firefox.
func Path() (string, error) {
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Start runs Firefox headless with a fresh profile, connects to its BiDi
// endpoint and opens a session. ctx bounds the start only.
func Start(ctx context.Context, opts Options) (*Browser, error) {
	exe := opts.Exe
	if exe == "" {
		var err error
		if exe, err = Path(); err != nil {
			return nil, err
		}
	}
	js, err := userJS(opts.Direct, opts.Prefs)
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "firefox-profile-")
	if err != nil {
		return nil, fmt.Errorf("firefox: profile: %w", err)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(js), 0o600); err != nil {
		_ = os.RemoveAll(profile)
		return nil, fmt.Errorf("firefox: profile: %w", err)
	}
	b := &Browser{profile: profile, stderr: newStderrLog(), exited: make(chan struct{})}
	// Port 0: Firefox picks a free port and prints the endpoint on stderr.
	b.cmd = exec.Command(exe, "--headless", "--no-remote", "--remote-debugging-port=0", "--profile", profile, "about:blank")
	b.cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	b.cmd.Stdout = b.stderr
	b.cmd.Stderr = b.stderr
	// Its own process group, so that Close ends the content processes too.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.WaitDelay = 2 * time.Second
	if err := b.cmd.Start(); err != nil {
		_ = os.RemoveAll(profile)
		return nil, fmt.Errorf("firefox: start %s: %w", exe, err)
	}
	go func() { _ = b.cmd.Wait(); close(b.exited) }()

	if err := b.connect(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// connect waits for the BiDi endpoint, opens the session, subscribes to
// the console and finds the tab.
func (b *Browser) connect(ctx context.Context) error {
	var url string
	select {
	case url = <-b.stderr.endpoint:
	case <-b.exited:
		return fmt.Errorf("firefox: exited before listening: %s", b.stderr.tail())
	case <-ctx.Done():
		return fmt.Errorf("firefox: no BiDi endpoint: %w: %s", ctx.Err(), b.stderr.tail())
	}
	var err error
	if b.conn, err = dial(ctx, url+"/session", b.onEvent); err != nil {
		return err
	}
	if err := b.conn.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}, nil); err != nil {
		return err
	}
	if err := b.conn.call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}, nil); err != nil {
		return err
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := b.conn.call(ctx, "browsingContext.getTree", map[string]any{"maxDepth": 0}, &tree); err != nil {
		return err
	}
	if len(tree.Contexts) == 0 {
		return errors.New("firefox: no browsing context")
	}
	b.context = tree.Contexts[0].Context
	return nil
}

// onEvent keeps the page's console messages (and uncaught errors).
func (b *Browser) onEvent(method string, params json.RawMessage) {
	if method != "log.entryAdded" {
		return
	}
	var e struct {
		Level string `json:"level"`
		Text  string `json:"text"`
	}
	if json.Unmarshal(params, &e) != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.console) == maxConsole {
		b.console = b.console[1:]
	}
	b.console = append(b.console, e.Level+": "+e.Text)
}

// Console returns the last console messages of the pages, "level: text".
func (b *Browser) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// Navigate opens url in the tab and waits for the page to load.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	return b.conn.call(ctx, "browsingContext.navigate", map[string]any{"context": b.context, "url": url, "wait": "complete"}, nil)
}

// Eval evaluates the JavaScript expression expr in the page, awaits it if
// it is a promise, and decodes its value, passed through JSON.stringify,
// into out (undefined leaves out alone). A thrown exception is an error
// wrapping ErrScript.
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	wrapped := "(async () => JSON.stringify(await (\n" + expr + "\n)))()"
	if err := b.conn.call(ctx, "script.evaluate", map[string]any{
		"expression":      wrapped,
		"target":          map[string]any{"context": b.context},
		"awaitPromise":    true,
		"resultOwnership": "none",
	}, &res); err != nil {
		return err
	}
	if res.Type == "exception" {
		return fmt.Errorf("%w: %s", ErrScript, res.ExceptionDetails.Text)
	}
	if res.Result.Type != "string" || out == nil {
		return nil // undefined, or a function: nothing JSON can carry
	}
	if err := json.Unmarshal([]byte(res.Result.Value), out); err != nil {
		return fmt.Errorf("firefox: script result %s: %w", truncate([]byte(res.Result.Value)), err)
	}
	return nil
}

// Close asks Firefox to quit, ends its process group if it has not within
// 5 s, and removes the profile. It is safe to call more than once.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		if b.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			// The answer may not come: Firefox closes the socket as it quits.
			_ = b.conn.call(ctx, "browser.close", nil, nil)
			cancel()
			b.conn.close()
		}
		select {
		case <-b.exited:
		case <-time.After(5 * time.Second):
		}
		// Content processes outliving the parent would hold the profile.
		if err := syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			b.closeErr = fmt.Errorf("firefox: kill: %w", err)
		}
		<-b.exited
		// The killed children are reaped by whoever inherited them.
		for end := time.Now().Add(5 * time.Second); syscall.Kill(-b.cmd.Process.Pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				b.closeErr = fmt.Errorf("firefox: processes of group %d still there 5 s after SIGKILL", b.cmd.Process.Pid)
				break
			}
		}
		if err := os.RemoveAll(b.profile); err != nil && b.closeErr == nil {
			b.closeErr = fmt.Errorf("firefox: remove profile: %w", err)
		}
	})
	return b.closeErr
}

// Stderr returns the end of what Firefox wrote on stdout and stderr.
func (b *Browser) Stderr() string { return b.stderr.tail() }

// stderrLog keeps the end of Firefox's output and finds in it the line
// announcing the BiDi endpoint.
type stderrLog struct {
	endpoint chan string // receives the endpoint once

	mu    sync.Mutex // guards buf and found
	buf   []byte
	found bool
}

const stderrKeep = 8 << 10

func newStderrLog() *stderrLog { return &stderrLog{endpoint: make(chan string, 1)} }

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	if !s.found {
		const marker = "WebDriver BiDi listening on "
		if i := strings.Index(string(s.buf), marker); i >= 0 {
			rest := string(s.buf[i+len(marker):])
			if j := strings.IndexAny(rest, " \r\n"); j > 0 {
				s.found = true
				s.endpoint <- rest[:j] // buffered, sent once
			}
		}
	}
	if !s.found && len(s.buf) > 4*stderrKeep {
		s.buf = s.buf[len(s.buf)-stderrKeep:]
	}
	if s.found && len(s.buf) > stderrKeep {
		s.buf = s.buf[len(s.buf)-stderrKeep:]
	}
	return len(p), nil
}

func (s *stderrLog) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(string(s.buf))
}
