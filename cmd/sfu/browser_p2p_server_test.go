package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// p2pServer is the real sfu binary on loopback, in development mode, for
// the browser tests of peer to peer. Built as it ships (without the race
// detector the test binary may carry), it leaves the machine's two cores
// to the three browsers as a server of its own would: the switch gaps
// these tests bound are the browsers' and the server's, not the race
// detector's.
type p2pServer struct {
	base string // http://host:port/
}

// startP2PServer runs the sfu with yaml as its configuration file until
// the test ends.
func startP2PServer(t *testing.T, yaml string) *p2pServer {
	t.Helper()
	dir := t.TempDir()
	bin := sfuBinary(t)
	cfg := filepath.Join(dir, "sfu.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--udp-port", "0", "--node-ip", "127.0.0.1", "--dev",
		"--config", cfg, "--log", logLevel())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`http://\S+/`)
	s := &p2pServer{}
	for lines.Scan() {
		if m := re.FindString(lines.Text()); m != "" {
			s.base = m
			break
		}
	}
	if s.base == "" {
		t.Fatal("the sfu did not print its URL")
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return s
}

// URL is the server's base URL, with a trailing slash.
func (s *p2pServer) URL() string { return s.base }

// packets reads the server's forwarded and received RTP packet counts
// from its /metrics.
func (s *p2pServer) packets(t *testing.T) (forwarded, received uint64) {
	t.Helper()
	resp, err := http.Get(s.base + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var into *uint64
		switch name {
		case "sfu_rtp_packets_forwarded_total":
			into = &forwarded
		case "sfu_rtp_packets_received_total":
			into = &received
		default:
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", name, err)
		}
		*into, found = uint64(f), found+1
	}
	if found != 2 {
		t.Fatalf("GET %smetrics (%d): the packet counts are missing", s.base, resp.StatusCode)
	}
	return forwarded, received
}

// p2pConfig is the configuration of the tests' server: peer to peer on,
// back to direct after delay.
func p2pConfig(delay time.Duration) string {
	return fmt.Sprintf("sfu:\n  p2p:\n    enabled: true\n    delay: %s\n    timeout: 5s\n", delay)
}
