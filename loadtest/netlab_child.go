package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ReportPrefix starts each report line a Child prints on its stdout; other
// output (the test framework's, a library's) is ignored.
const ReportPrefix = "NETLAB "

// Child is a copy of the running (test) binary executing inside a Lab. It
// reports by printing lines of ReportPrefix and one JSON object, which the
// parent reads with Latest. It runs until its stdin closes (Stop, or the
// parent dying), which ParentGone tells it.
type Child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer // written by exec until Wait returns, then read

	mu     sync.Mutex // guards latest
	latest []byte

	reports chan struct{} // signalled, without blocking, at each report
	done    chan struct{} // closed when the child exited and waitErr is set
	waitErr error
	stopped sync.Once
	stopErr error
}

// StartSelf runs this binary with args inside the namespace, its
// environment plus env.
func (l *Lab) StartSelf(env []string, args ...string) (*Child, error) {
	return StartSelfIn(l.Name, env, args...)
}

// StartSelfIn is StartSelf in the named network namespace, for a test
// that builds its own (ip netns add).
func StartSelfIn(namespace string, env []string, args ...string) (*Child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("loadtest: own executable: %w", err)
	}
	c := &Child{cmd: CommandIn(context.Background(), namespace, self, args...), reports: make(chan struct{}, 1), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: start %s in %s: %w", self, namespace, err)
	}
	go c.read(stdout)
	return c, nil
}

// read keeps the newest report until the child's stdout closes, then
// waits for the child (exec wants every read done before Wait).
func (c *Child) read(stdout io.Reader) {
	defer close(c.done)
	defer func() { c.waitErr = c.cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), ReportPrefix)
		if !ok {
			continue
		}
		c.mu.Lock()
		c.latest = []byte(line)
		c.mu.Unlock()
		select {
		case c.reports <- struct{}{}:
		default:
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
}

// Latest decodes the newest report into v; false if none came yet.
func (c *Child) Latest(v any) (bool, error) {
	c.mu.Lock()
	line := c.latest
	c.mu.Unlock()
	if line == nil {
		return false, nil
	}
	return true, json.Unmarshal(line, v)
}

// Next waits up to timeout for a report newer than the last one Next or
// Latest could have seen, and decodes it into v.
func (c *Child) Next(v any, timeout time.Duration) (bool, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.reports:
		return c.Latest(v)
	case <-c.done:
		return false, fmt.Errorf("loadtest: child exited: %s", c.Stderr())
	case <-t.C:
		return false, nil
	}
}

// Exited is closed once the child has exited.
func (c *Child) Exited() <-chan struct{} { return c.done }

// Stderr returns the end of what the child wrote on stderr, once it has
// exited.
func (c *Child) Stderr() string {
	select {
	case <-c.done:
	default:
		return "(still running)"
	}
	s := c.stderr.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// Stop closes the child's stdin, which asks it to finish, and waits for
// it; a child still running 10 s later is killed. It is safe to call more
// than once.
func (c *Child) Stop() error {
	c.stopped.Do(func() {
		_ = c.stdin.Close()
		select {
		case <-c.done:
			c.stopErr = c.waitErr
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.stopErr = fmt.Errorf("loadtest: child killed after 10 s: %w", c.waitErr)
		}
	})
	return c.stopErr
}

// Report prints v as a report line on stdout (the child side of Child).
func Report(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(os.Stdout, "%s%s\n", ReportPrefix, data)
	return err
}

// ParentGone returns a channel closed when stdin reaches its end: the
// parent called Stop or died (the child side of Child).
func ParentGone() <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(gone)
	}()
	return gone
}
