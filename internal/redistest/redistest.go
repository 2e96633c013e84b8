// Package redistest starts real redis-server processes for tests: a
// standalone server or a three-master Redis Cluster, on free loopback
// ports, without persistence, in the test's temporary directory, killed
// when the test ends. A test can stop a server and start it again on the
// same port to see what an outage does.
//
// Where redis-server is not installed the tests that need it are skipped
// with a message, except in CI (CI=true), where they fail: there it must be
// installed (testdata/install-deps.sh).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds the wait for a started server to answer PING, and
// for a new cluster to report cluster_state:ok.
const readyTimeout = 20 * time.Second

// Instance is one redis-server process a test controls.
type Instance struct {
	// Addr is the server's address, 127.0.0.1:port; it stays the same
	// across Stop and Restart.
	Addr string

	bin  string
	args []string
	dir  string
	cmd  *exec.Cmd // nil while stopped
}

// Server starts a standalone redis-server and returns its address.
func Server(t testing.TB) string {
	t.Helper()
	return Start(t).Addr
}

// Start starts a standalone redis-server that the test can stop and start
// again; extra are more redis-server options.
func Start(t testing.TB, extra ...string) *Instance {
	t.Helper()
	return startWith(t, nil, extra)
}

// startWith starts redis-server with the arguments before (a
// configuration file, a mode), then the test's options, then extra.
func startWith(t testing.TB, before, extra []string) *Instance {
	t.Helper()
	bin := need(t, "redis-server")
	dir := t.TempDir()
	var last error
	for range 5 { // another process may take the port we found free
		port := freePort(t)
		args := append(append([]string(nil), before...),
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--logfile", filepath.Join(dir, "redis.log"))
		i := &Instance{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			bin:  bin, dir: dir,
			args: append(args, extra...),
		}
		if last = i.start(); last == nil {
			t.Cleanup(i.Stop)
			return i
		}
	}
	t.Fatalf("redistest: %v", last)
	return nil
}

// Stop kills the server at once, as a crash would; its data is gone.
// Stopping a stopped server does nothing.
func (i *Instance) Stop() {
	if i.cmd == nil {
		return
	}
	_ = i.cmd.Process.Kill()
	_ = i.cmd.Wait()
	i.cmd = nil
}

// Restart starts a stopped server again, empty, on the same port, and
// waits until it answers; t is the calling test's.
func (i *Instance) Restart(t testing.TB) {
	t.Helper()
	if i.cmd != nil {
		t.Fatal("redistest: Restart of a running server")
	}
	if err := i.start(); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// start runs the server and waits until it answers PING.
func (i *Instance) start() error {
	cmd := exec.Command(i.bin, i.args...)
	cmd.Dir = i.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	i.cmd = cmd
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if exited(cmd) {
			i.cmd = nil
			return fmt.Errorf("redis-server on %s exited: %s", i.Addr, i.logTail())
		}
		// A server with a password answers PING with NOAUTH: it is up.
		var refused ReplyError
		if reply, err := Command(i.Addr, "PING"); err == nil && reply == "PONG" || errors.As(err, &refused) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	i.Stop()
	return fmt.Errorf("redis-server on %s did not answer in %s: %s", i.Addr, readyTimeout, i.logTail())
}

// exited reports, without blocking, whether the process has ended; it
// reaps it then, so Wait must not be called on it.
func exited(cmd *exec.Cmd) bool {
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil)
	return err == nil && pid == cmd.Process.Pid
}

func (i *Instance) logTail() string {
	b, _ := os.ReadFile(filepath.Join(i.dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

// need returns the path of the program name, skipping the test when it is
// missing (failing it in CI).
func need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("redistest: %s not installed (Debian: apt-get install redis-server redis-tools)", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ReplyError is an error reply from the server.
type ReplyError string

func (e ReplyError) Error() string { return "redistest: " + string(e) }

// Command sends one command of plain words to the server at addr and
// returns the reply as text: a status or bulk string as it is, an integer
// in decimal, an error as an error. Arrays are not read.
func Command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("redistest: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", ReplyError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redistest: reply %q not read", line)
}
