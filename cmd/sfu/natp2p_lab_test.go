package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// Peer to peer calls across NATs: the sfu binary, with its embedded
// STUN/TURN server, runs on the public segment of a loadtest.NATLab, and
// one Go client (re-executed test binary) behind each NAT router. The
// binary rather than an in-process node: what is tested is the server as
// deployed (its --turn flags, its YAML), and its process has the server
// namespace's one interface to itself. Its /metrics, on that
// namespace's loopback, are read by a scraper (the test binary again)
// in the namespace.

// Environment of a client re-executed in a client namespace.
const (
	natURLEnv   = "SFU_NATP2P_URL"
	natTokenEnv = "SFU_NATP2P_TOKEN"
	// natScrapeEnv is the metrics URL of a scraper in the server
	// namespace.
	natScrapeEnv = "SFU_NATP2P_SCRAPE"
	// natNoP2PEnv, if set, makes the client join with p2p false, so that
	// a room of two stays on the SFU.
	natNoP2PEnv = "SFU_NATP2P_NOP2P"
)

const (
	natSecret      = "0123456789abcdef0123456789abcdef"
	natHTTPPort    = 7880
	natMediaPort   = 7882
	natTURNPort    = 3478
	natMetricsAddr = "127.0.0.1:9090"
	natRoom        = "natp2p"
)

// natReport is what a client prints every 100 ms.
type natReport struct {
	ID       string
	Joins    int       // joined messages received: 1 unless it rejoined
	JoinedAt time.Time // when Dial returned
	// Mode is the room's mode as the server last said; Events the mode
	// and peer_end messages, "type mode reason", oldest first.
	Mode   string
	Events []string
	// Local and Remote are the candidate types of the peer connection's
	// selected pair when it was reported connected.
	Local, Remote                  string
	Path                           string // what it reported: host, srflx or relay
	RemoteAddr                     string // the remote candidate's
	ICERestarts                    int
	Started, Connected, FirstMedia time.Time
	// PeerVideo is the peer's video over the peer connection, SFUVideo
	// over the SFU.
	PeerVideo, SFUVideo loadtest.TrackCounts
	// SFUFrames are the video frames received through the SFU, by
	// participant.
	SFUFrames map[string]int
	// SFULast is when the newest video frame through the SFU arrived, by
	// participant.
	SFULast map[string]time.Time
	// PubRestarts and SubRestarts are the ICE restarts of the
	// connections to the SFU: the publisher's by the client, the
	// subscriber's by the server.
	PubRestarts, SubRestarts int
	// RestartAsks are the server's restart messages (for the publisher
	// connection) received.
	RestartAsks int
	// PubICE and SubICE are the ICE states of the connections to the SFU.
	PubICE, SubICE string
	// ICEHistory are the changes of PubICE and SubICE, "pub STATE
	// UNIXMILLIS" or "sub ...", oldest first.
	ICEHistory []string
	Errors     []string
	Disconnect string // how the WebSocket ended, if it did
}

func (r natReport) String() string {
	return fmt.Sprintf("%s: mode %q %v, pair %s -> %s %s, %d ICE restarts, %d peer frames, %d SFU frames, pub %s sub %s, joins %d, errors %v, disconnect %q",
		r.ID, r.Mode, r.Events, r.Local, r.Remote, r.RemoteAddr, r.ICERestarts, r.PeerVideo.Frames, r.SFUVideo.Frames, r.PubICE, r.SubICE, r.Joins, r.Errors, r.Disconnect)
}

// udpTURN keeps the STUN URLs and TURN over UDP: TURN over TCP and TLS
// are tested elsewhere.
func udpTURN(url string) bool {
	return strings.HasPrefix(url, "stun:") || (strings.HasPrefix(url, "turn:") && !strings.Contains(url, "transport=tcp"))
}

// TestNATPeerClientProcess is one client in a client namespace: it joins
// with P2P and the joined message's ICE servers, publishes, and reports;
// or, with natScrapeEnv, the scraper of the server's metrics. In a normal
// test run it does nothing.
func TestNATPeerClientProcess(t *testing.T) {
	if u := os.Getenv(natScrapeEnv); u != "" {
		scrapeMetrics(u)
		return
	}
	url := os.Getenv(natURLEnv)
	if url == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "natp2p client:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := loadtest.Options{URL: url, Token: os.Getenv(natTokenEnv), P2P: true,
		ICE: loadtest.ICEOptions{FromJoined: true, KeepURL: udpTURN}}
	if os.Getenv(natNoP2PEnv) != "" {
		opts.P2P, opts.NoP2P = false, true
	}
	var c *loadtest.Client
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err = loadtest.Dial(ctx, opts); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		fail(err)
	}
	defer c.Close()
	joinedAt := time.Now()
	disconnect := make(chan string, 1)
	c.OnDisconnect(func(d loadtest.Disconnect) {
		select {
		case disconnect <- fmt.Sprintf("%+v", d):
		default:
		}
	})
	if err := c.Publish(loadtest.DefaultMedia); err != nil {
		fail(err)
	}
	gone := loadtest.ParentGone()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var ended, pubState, subState string
	var history []string
	for {
		select {
		case <-gone:
			return
		case <-ctx.Done():
			return
		case ended = <-disconnect:
		case <-tick.C:
		}
		st := c.PeerStatus()
		r := natReport{ID: c.Self.ID, JoinedAt: joinedAt, Mode: st.Mode, Local: st.Candidate, Remote: st.RemoteCandidate, Path: st.Path, RemoteAddr: st.RemoteAddress,
			ICERestarts: st.ICERestarts, Started: st.Started, Connected: st.Connected, FirstMedia: st.FirstMedia,
			PubICE: c.Publisher().ICEConnectionState().String(), SubICE: c.Subscriber().ICEConnectionState().String(),
			Disconnect: ended}
		if r.PubICE != pubState {
			pubState = r.PubICE
			history = append(history, fmt.Sprintf("pub %s %d", pubState, time.Now().UnixMilli()))
		}
		if r.SubICE != subState {
			subState = r.SubICE
			history = append(history, fmt.Sprintf("sub %s %d", subState, time.Now().UnixMilli()))
		}
		r.ICEHistory = history
		for _, m := range c.Messages() {
			switch m.Type {
			case "joined":
				r.Joins++
			case "restart":
				r.RestartAsks++
			case "mode", "peer_end":
				r.Events = append(r.Events, strings.Join(strings.Fields(m.Type+" "+m.Mode+" "+m.Reason), " "))
			case "error", "client_error":
				r.Errors = append(r.Errors, m.Type+" "+m.Code+" "+m.Message)
			}
		}
		for _, tc := range c.ReceivedPeer() {
			if tc.Kind == "video" && tc.ParticipantID != c.Self.ID {
				r.PeerVideo = tc
			}
		}
		r.PubRestarts, r.SubRestarts = c.ICERestarts()
		r.SFUFrames = map[string]int{}
		r.SFULast = map[string]time.Time{}
		for _, tc := range c.Received() {
			if tc.Kind == "video" && tc.ParticipantID != c.Self.ID {
				r.SFUFrames[tc.ParticipantID] += tc.Frames
				if tc.LastFrame.After(r.SFULast[tc.ParticipantID]) {
					r.SFULast[tc.ParticipantID] = tc.LastFrame
				}
				if !tc.Ended {
					r.SFUVideo = tc
				}
			}
		}
		if err := loadtest.Report(r); err != nil {
			fail(err)
		}
	}
}

// scrapeMetrics reports the unlabelled samples of the metrics at url
// every 100 ms, until the parent is gone.
func scrapeMetrics(url string) {
	gone := loadtest.ParentGone()
	c := http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-gone:
			return
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := c.Get(url)
		if err != nil {
			continue
		}
		m := map[string]float64{}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			name, value, ok := strings.Cut(sc.Text(), " ")
			if !ok || strings.HasPrefix(name, "#") {
				continue
			}
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				m[name] = v
			}
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			_ = loadtest.Report(m)
		}
	}
}

// natServer is the sfu binary running in a NATLab's server namespace.
type natServer struct {
	lab    *loadtest.NATLab
	stderr lockedBuffer
	done   chan struct{}
	scrape *loadtest.Child // scrapeMetrics, in the server namespace
}

// startNATServer builds and runs the sfu with peer to peer on and its
// embedded STUN/TURN server on UDP and TCP, node and relay address the
// server's on the public segment, until the test ends.
func startNATServer(t *testing.T, lab *loadtest.NATLab) *natServer {
	t.Helper()
	// The segment's addresses are private: the relay may reach them.
	return startNATServerWith(t, lab, fmt.Sprintf("sfu:\n  p2p:\n    enabled: true\nturn:\n  allowed_peers: [%q]\n", lab.Net.String()))
}

// startNATServerWith is startNATServer with yaml as the configuration
// file.
func startNATServerWith(t *testing.T, lab *loadtest.NATLab, yaml string) *natServer {
	t.Helper()
	dir := t.TempDir()
	bin := sfuBinary(t)
	cfg := filepath.Join(dir, "sfu.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ip := lab.ServerIP.String()
	s := &natServer{lab: lab, done: make(chan struct{})}
	cmd := loadtest.CommandIn(context.Background(), lab.Server, bin,
		"--listen", net.JoinHostPort(ip, fmt.Sprint(natHTTPPort)), "--udp-port", fmt.Sprint(natMediaPort),
		"--node-ip", ip, "--keys", "test:"+natSecret, "--config", cfg, "--log", logLevel(),
		"--metrics-listen", natMetricsAddr,
		"--turn", "--turn-public-ip", ip, "--turn-port", fmt.Sprint(natTURNPort), "--turn-tls-port", "-1")
	cmd.Stdout = io.Discard
	cmd.Stderr = &s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // ip netns exec execs the binary: this is the sfu
		<-s.done
		if t.Failed() || os.Getenv("SFU_STDERR") != "" {
			t.Logf("sfu stderr:\n%s", s.stderr.String())
		}
	})
	var err error
	s.scrape, err = loadtest.StartSelfIn(lab.Server, []string{natScrapeEnv + "=http://" + natMetricsAddr + "/metrics"},
		"-test.run=^TestNATPeerClientProcess$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.scrape.Stop() })
	var m map[string]float64
	if ok, err := s.scrape.Next(&m, 15*time.Second); !ok || err != nil {
		t.Fatalf("no metrics from the sfu in %s after 15 s (%v): %s", lab.Server, err, s.stderr.String())
	}
	return s
}

// metric is a sample of the server's metrics scraped from now on.
func (s *natServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	var m map[string]float64
	// The first report may be one already waiting.
	for range 2 {
		if ok, err := s.scrape.Next(&m, 5*time.Second); !ok || err != nil {
			t.Fatalf("no metrics from the sfu (%v): %s", err, s.stderr.String())
		}
	}
	v, ok := m[name]
	if !ok {
		t.Fatalf("no %s in /metrics", name)
	}
	return v
}

// startNATClient runs a client, identity id, in site i's client
// namespace until the test ends, and waits for its first report (it has
// joined).
func startNATClient(t *testing.T, lab *loadtest.NATLab, site int, id string, env ...string) *loadtest.Child {
	t.Helper()
	keys := signaling.Keys{"test": natSecret}
	tok, err := keys.Mint("test", signaling.TokenRequest{Room: natRoom, Identity: id, Name: id,
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadtest.StartSelfIn(lab.Sites[site].Client, append([]string{
		natURLEnv + "=ws://" + net.JoinHostPort(lab.ServerIP.String(), fmt.Sprint(natHTTPPort)) + "/ws",
		natTokenEnv + "=" + tok,
	}, env...), "-test.run=^TestNATPeerClientProcess$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("client %s: %v\n%s", id, err, strings.TrimSpace(c.Stderr()))
		} else if os.Getenv("SFU_STDERR") != "" {
			t.Logf("client %s stderr:\n%s", id, c.Stderr())
		}
	})
	var r natReport
	if ok, err := c.Next(&r, 25*time.Second); !ok || err != nil {
		t.Fatalf("client %s did not join: %v", id, errors.Join(err, errors.New(c.Stderr())))
	}
	return c
}

// natUntil waits up to timeout for reports of both clients that cond
// accepts, and returns them; it fails the test with the latest ones
// otherwise.
func natUntil(t *testing.T, a, b *loadtest.Child, timeout time.Duration, what string, cond func(a, b natReport) bool) (natReport, natReport) {
	t.Helper()
	var ra, rb natReport
	for deadline := time.Now().Add(timeout); ; {
		if _, err := a.Next(&ra, 200*time.Millisecond); err != nil {
			t.Fatalf("client a: %v", err)
		}
		if _, err := b.Latest(&rb); err != nil {
			t.Fatalf("client b: %v", err)
		}
		if ra.ID != "" && rb.ID != "" && cond(ra, rb) {
			return ra, rb
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %v:\n%v\n%v", what, timeout, ra, rb)
		}
	}
}
