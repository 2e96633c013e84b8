package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoLab is wrapped by Available's and NewLab's answer when this machine
// cannot build a Lab.
var ErrNoLab = errors.New("loadtest: network lab unavailable")

// Lab is a network namespace joined to the root namespace by a veth pair:
// a test host on its own constrained link. The host side of the pair, in
// the root namespace, has HostIP; the side inside the namespace has NSIP;
// they share a /30. What the root namespace sends toward NSIP can be slowed
// down (SetRate) and lost at random (SetLoss), as on a real access link;
// what the namespace sends back can be slowed down too (SetEgressRate).
//
// Programs run inside the namespace with Command. A Go process cannot move
// its pion sockets between namespaces, so tests re-execute their own binary
// there (os.Executable, not /proc/self/exe, which would name ip itself).
//
// Close removes everything the Lab created; nothing else is touched.
type Lab struct {
	Name   string // the namespace
	HostIf string // veth in the root namespace
	NSIf   string // veth inside the namespace
	HostIP net.IP
	NSIP   net.IP
	Net    *net.IPNet // the /30 the two addresses share

	mu          sync.Mutex // guards rated and egressRated
	rated       bool       // a tbf qdisc is on HostIf
	egressRated bool       // a tbf qdisc is on NSIf (SetEgressRate)

	closeOnce sync.Once
	closeErr  error
}

// labSeq spreads the labs of one process over the address space; the
// namespace name, created atomically by ip, is the lock between processes.
var labSeq atomic.Uint32

// labTable is the nftables table a Lab owns inside its namespace.
const labTable = "sfulab"

// commandTimeout bounds every ip, tc and nft invocation.
const commandTimeout = 10 * time.Second

// Available reports why a Lab cannot be built here, or nil: it needs Linux,
// root, and the ip, tc (iproute2) and nft (nftables) programs.
func Available() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: needs Linux network namespaces", ErrNoLab)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root", ErrNoLab)
	}
	for _, t := range []struct{ name, pkg string }{{"ip", "iproute2"}, {"tc", "iproute2"}, {"nft", "nftables"}} {
		if _, err := tool(t.name); err != nil {
			return fmt.Errorf("%w: %s not found (Debian: apt-get install -y %s)", ErrNoLab, t.name, t.pkg)
		}
	}
	return nil
}

// tool finds a system program, also in the sbin directories a non-login
// PATH may lack.
func tool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("loadtest: %s not found", name)
}

// run runs a system program and returns its combined output in the error.
func run(stdin string, name string, args ...string) error {
	path, err := tool(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("loadtest: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NewLab creates a namespace with a unique name, the veth pair and the
// addresses 10.77.N.1/30 (root side) and 10.77.N.2/30 (namespace side),
// with the namespace's loopback up, and checks that rate limits and loss
// can be set. On error, which wraps ErrNoLab when this machine cannot
// build labs, it removes what it made.
func NewLab() (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	start := uint32(os.Getpid())*31 + labSeq.Add(1)*7
	for try := uint32(0); try < 256; try++ {
		n := (start + try) % 256
		name := fmt.Sprintf("sfulab%d", n)
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
			continue // another lab's
		}
		err := run("", "ip", "netns", "add", name)
		if err != nil && strings.Contains(err.Error(), "File exists") {
			continue // lost the race for it
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoLab, err)
		}
		l := &Lab{
			Name:   name,
			HostIf: name + "h",
			NSIf:   name + "n",
			HostIP: net.IPv4(10, 77, byte(n), 1).To4(),
			NSIP:   net.IPv4(10, 77, byte(n), 2).To4(),
			Net:    &net.IPNet{IP: net.IPv4(10, 77, byte(n), 0).To4(), Mask: net.CIDRMask(30, 32)},
		}
		if err := l.setUp(); err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("%w: %w", ErrNoLab, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("%w: no free lab name (ip netns list)", ErrNoLab)
}

func (l *Lab) setUp() error {
	steps := [][]string{
		{"link", "add", l.HostIf, "type", "veth", "peer", "name", l.NSIf, "netns", l.Name},
		{"addr", "add", l.HostIP.String() + "/30", "dev", l.HostIf},
		{"link", "set", l.HostIf, "up"},
		{"-n", l.Name, "addr", "add", l.NSIP.String() + "/30", "dev", l.NSIf},
		{"-n", l.Name, "link", "set", l.NSIf, "up"},
		{"-n", l.Name, "link", "set", "lo", "up"},
	}
	for _, args := range steps {
		if err := run("", "ip", args...); err != nil {
			return err
		}
	}
	// Try the knobs once, so that a kernel without tbf or nftables shows
	// here rather than in the middle of a test.
	if err := l.SetRate(1_000_000); err != nil {
		return err
	}
	if err := l.ClearRate(); err != nil {
		return err
	}
	if err := l.SetLoss(1); err != nil {
		return err
	}
	return l.SetLoss(0)
}

// Command prepares name to run inside the namespace.
func (l *Lab) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return CommandIn(ctx, l.Name, name, args...)
}

// CommandIn prepares name to run inside the named network namespace, for
// a test that builds its own namespaces; a system program is found as the
// Lab finds ip, tc and nft.
func CommandIn(ctx context.Context, namespace, name string, args ...string) *exec.Cmd {
	ip, err := tool("ip")
	if err != nil {
		ip = "ip" // Start reports it
	}
	if path, err := tool(name); err == nil {
		name = path
	}
	return exec.CommandContext(ctx, ip, append([]string{"netns", "exec", namespace, name}, args...)...)
}

// RunTool runs a system program (ip, nft, sysctl) with stdin, when not
// empty, as its input; its output is in the error when it fails.
func RunTool(stdin, name string, args ...string) error { return run(stdin, name, args...) }

// RunToolIn is RunTool inside the named network namespace.
func RunToolIn(namespace, stdin, name string, args ...string) error {
	path, err := tool(name)
	if err != nil {
		return err
	}
	return run(stdin, "ip", append([]string{"netns", "exec", namespace, path}, args...)...)
}

// SetRate limits what the root namespace sends toward the namespace to
// bitsPerSecond, with a token bucket (tbf) on the host veth: a burst of at
// least 10 KiB and packets dropped once queued 100 ms, like a modest
// access link's buffer. It replaces an earlier limit.
func (l *Lab) SetRate(bitsPerSecond int64) error {
	if bitsPerSecond <= 0 {
		return fmt.Errorf("loadtest: rate %d bit/s", bitsPerSecond)
	}
	burst := max(10*1024, bitsPerSecond/8/50) // 20 ms at the rate
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := run("", "tc", "qdisc", "replace", "dev", l.HostIf, "root", "tbf",
		"rate", fmt.Sprintf("%dbit", bitsPerSecond), "burst", fmt.Sprint(burst), "latency", "100ms"); err != nil {
		return err
	}
	l.rated = true
	return nil
}

// ClearRate removes the rate limit.
func (l *Lab) ClearRate() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.rated {
		return nil
	}
	if err := run("", "tc", "qdisc", "del", "dev", l.HostIf, "root"); err != nil {
		return err
	}
	l.rated = false
	return nil
}

// SetEgressRate limits the other direction: what the namespace sends
// toward the root namespace, with the same token bucket as SetRate on the
// namespace's veth. A server run inside the namespace (Command) then has a
// slow link toward its clients in the root namespace while their uplink
// stays open. It replaces an earlier egress limit and leaves SetRate's
// alone; Close removes it with the namespace.
func (l *Lab) SetEgressRate(bitsPerSecond int64) error {
	if bitsPerSecond <= 0 {
		return fmt.Errorf("loadtest: rate %d bit/s", bitsPerSecond)
	}
	burst := max(10*1024, bitsPerSecond/8/50) // 20 ms at the rate, as SetRate
	tc, err := tool("tc")
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := run("", "ip", "netns", "exec", l.Name, tc, "qdisc", "replace", "dev", l.NSIf, "root", "tbf",
		"rate", fmt.Sprintf("%dbit", bitsPerSecond), "burst", fmt.Sprint(burst), "latency", "100ms"); err != nil {
		return err
	}
	l.egressRated = true
	return nil
}

// ClearEgressRate removes SetEgressRate's limit.
func (l *Lab) ClearEgressRate() error {
	tc, err := tool("tc")
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.egressRated {
		return nil
	}
	if err := run("", "ip", "netns", "exec", l.Name, tc, "qdisc", "del", "dev", l.NSIf, "root"); err != nil {
		return err
	}
	l.egressRated = false
	return nil
}

// SetLoss drops percent of the packets arriving in the namespace, chosen
// at random (nftables numgen), in a table the Lab owns inside its
// namespace; 0 removes the loss.
func (l *Lab) SetLoss(percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("loadtest: loss %d%%", percent)
	}
	// Declaring the table first makes the delete succeed when it is absent;
	// nft applies the whole script as one transaction.
	script := fmt.Sprintf("table inet %s {}\ndelete table inet %s\n", labTable, labTable)
	if percent > 0 {
		script += fmt.Sprintf(`table inet %s {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname %q numgen random mod 100 < %d drop
	}
}
`, labTable, l.NSIf, percent)
	}
	nft, err := tool("nft")
	if err != nil {
		return err
	}
	return run(script, "ip", "netns", "exec", l.Name, nft, "-f", "-")
}

// Close removes the veth pair (and with it the rate limit) and the
// namespace (and with it the loss table). Deleting the host veth first
// makes the pair disappear at once; the kernel dismantles a deleted
// namespace asynchronously. It is safe to call more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		if err := run("", "ip", "link", "del", l.HostIf); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
		if err := run("", "ip", "netns", "del", l.Name); err != nil {
			errs = append(errs, err)
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// Leftovers reports what is left of the lab in the root namespace (its
// namespace, its veth), or nil: after Close there should be nothing.
func (l *Lab) Leftovers() error {
	var left []string
	if _, err := os.Stat(filepath.Join("/run/netns", l.Name)); err == nil {
		left = append(left, "namespace "+l.Name)
	}
	if _, err := net.InterfaceByName(l.HostIf); err == nil {
		left = append(left, "veth "+l.HostIf)
	}
	if len(left) > 0 {
		return fmt.Errorf("loadtest: lab left %s", strings.Join(left, " and "))
	}
	return nil
}
