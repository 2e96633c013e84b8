package signaling_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// Remote ICE candidates name addresses the server sends connectivity
// checks to. These tests put loopback listeners behind the candidates and
// count the STUN requests that reach each: every address in them is on
// loopback, so a filter that failed could only send traffic to these
// tests' own sockets.

// TestCandidateFloodIsBounded offers 1,000 candidates in one publisher
// offer, each naming its own loopback listener, then trickles more: the
// server answers, refuses what is over the limit, and checks exactly the
// first MaxRemoteCandidates addresses.
func TestCandidateFloodIsBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Loopback candidates are accepted because the server advertises a
	// loopback address, not because remote networks list them.
	ts := newTestServerMedia(t, func(c *sfu.Config) { c.RemoteNetworks = nil }, nil)
	limit := sfu.Default().MaxRemoteCandidates
	const inOffer, trickled = 1000, 8
	l := listenLoopback(t, inOffer+trickled)

	r := joinRaw(ctx, t, ts, "flood", signaling.Version)
	start := time.Now()
	r.send(map[string]any{"type": "offer", "sdp": withCandidates(t, sendonlyOffer(t), l.candidates(0, inOffer))})
	answer, errs := r.replyToOffer()
	if answer == "" {
		t.Fatalf("no answer; errors %v", errs)
	}
	if len(errs) != 1 || errs[0].Code != signaling.CodeBadCandidate || errs[0].Ref != "offer" || !strings.Contains(errs[0].Message, fmt.Sprint(limit)) {
		t.Fatalf("got errors %v; want one bad_candidate for the offer naming the limit %d", errs, limit)
	}
	for _, c := range l.candidates(inOffer, inOffer+trickled) {
		r.send(map[string]any{"type": "candidate", "target": "publisher", "candidate": map[string]any{"candidate": c, "sdpMid": "0", "sdpMLineIndex": 0}})
		r.wantErrorContaining(signaling.CodeBadCandidate, "candidate", fmt.Sprint(limit))
	}
	r.pings()

	eventually(t, 20*time.Second, fmt.Sprintf("checks to the first %d candidates", limit), func() bool {
		return l.contacted(0, limit) == limit
	})
	// Checks repeat every few hundred milliseconds: give any refused
	// candidate that pion had been handed time to show.
	time.Sleep(time.Until(start.Add(5 * time.Second)))
	addrs, datagrams := l.contacted(0, len(l.conns)), l.datagrams()
	t.Logf("offer with %d candidates, %d trickled: %d addresses got %d STUN requests in %v",
		inOffer, trickled, addrs, datagrams, time.Since(start).Round(100*time.Millisecond))
	if addrs != limit {
		t.Errorf("%d addresses got connectivity checks; want the limit, %d", addrs, limit)
	}
}

// TestSubscriberCandidatesBounded counts the candidates in the client's
// subscriber answer and its trickled ones together.
func TestSubscriberCandidatesBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	limit := sfu.Default().MaxRemoteCandidates
	inAnswer := limit / 2
	trickled := limit - inAnswer + 4
	l := listenLoopback(t, inAnswer+trickled)

	pub := ts.join(ctx, "sub-bound")
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	r := joinRaw(ctx, t, ts, "sub-bound", signaling.Version)
	offer := r.nextOfType("offer")
	r.send(map[string]any{"type": "answer", "sdp": withCandidates(t, answerTo(t, offer.SDP), l.candidates(0, inAnswer))})
	cands := l.candidates(inAnswer, inAnswer+trickled)
	// A candidate already given counts once.
	cands = append(cands, l.candidates(0, 1)[0])
	refused := 0
	for _, c := range cands {
		r.send(map[string]any{"type": "candidate", "target": "subscriber", "candidate": map[string]any{"candidate": c, "sdpMid": "0", "sdpMLineIndex": 0}})
	}
	r.send(map[string]string{"type": "ping"})
	for m := r.next(); m.Type != "pong"; m = r.next() {
		if m.Type == "error" {
			checkError(t, m, signaling.CodeBadCandidate, "candidate")
			refused++
		}
	}
	if want := inAnswer + trickled - limit; refused != want {
		t.Errorf("%d candidates refused; want %d", refused, want)
	}
	eventually(t, 20*time.Second, fmt.Sprintf("checks to the first %d candidates", limit), func() bool {
		return l.contacted(0, limit) == limit
	})
	time.Sleep(2 * time.Second)
	if n := l.contacted(limit, len(l.conns)); n != 0 {
		t.Errorf("%d candidates over the limit got connectivity checks", n)
	}
}

// TestCandidatesOfAnotherKindRefused runs a server that advertises a
// public address (a documentation one, never contacted): its clients'
// loopback candidates are refused in the offer and when trickled, and so
// are candidates naming the unspecified address, which reaches this host.
func TestCandidatesOfAnotherKindRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServerMedia(t, func(c *sfu.Config) {
		c.NodeIP = "203.0.113.7"
		c.RemoteNetworks = nil
	}, nil)
	const inOffer, trickled = 6, 6
	l := listenLoopback(t, inOffer+trickled+1)
	cands := l.candidates(0, inOffer+trickled)
	// The last listener is on 127.0.0.1; 0.0.0.0 is delivered to it.
	unspecified := fmt.Sprintf("candidate:1 1 udp 2130706431 0.0.0.0 %d typ host", l.conns[len(l.conns)-1].LocalAddr().(*net.UDPAddr).Port)

	r := joinRaw(ctx, t, ts, "public", signaling.Version)
	start := time.Now()
	r.send(map[string]any{"type": "offer", "sdp": withCandidates(t, sendonlyOffer(t), append(cands[:inOffer:inOffer], unspecified))})
	if answer, errs := r.replyToOffer(); answer == "" || len(errs) != 0 {
		t.Fatalf("answer %q, errors %v; want an answer and no error", answer, errs)
	}
	for _, c := range append(cands[inOffer:], unspecified) {
		r.send(map[string]any{"type": "candidate", "target": "publisher", "candidate": map[string]any{"candidate": c, "sdpMid": "0", "sdpMLineIndex": 0}})
		r.wantErrorContaining(signaling.CodeBadCandidate, "candidate", "not accepted")
	}
	r.pings()
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	if n, d := l.contacted(0, len(l.conns)), l.datagrams(); n != 0 {
		t.Errorf("%d refused addresses got %d connectivity checks", n, d)
	}
}

// loopbackListeners are UDP sockets on distinct loopback addresses that
// count the datagrams they receive.
type loopbackListeners struct {
	conns []*net.UDPConn
	got   []atomic.Int64
	wg    sync.WaitGroup
}

// listenLoopback binds n sockets on 127.0.1.1, 127.0.1.2, ... and, last,
// one on 127.0.0.1.
func listenLoopback(t *testing.T, n int) *loopbackListeners {
	t.Helper()
	l := &loopbackListeners{got: make([]atomic.Int64, n)}
	t.Cleanup(l.close)
	for i := range n {
		ip := net.IPv4(127, byte(i/250)+1, 0, byte(i%250)+1)
		if i == n-1 {
			ip = net.IPv4(127, 0, 0, 1)
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		l.conns = append(l.conns, c)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
				l.got[i].Add(1)
			}
		}()
	}
	return l
}

func (l *loopbackListeners) close() {
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.wg.Wait()
}

// candidates are host candidates naming listeners from to to-1.
func (l *loopbackListeners) candidates(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		a := l.conns[i].LocalAddr().(*net.UDPAddr)
		out = append(out, fmt.Sprintf("candidate:%d 1 udp %d %s %d typ host", i, 2130706431-i, a.IP, a.Port))
	}
	return out
}

// contacted counts the listeners from to to-1 that received anything.
func (l *loopbackListeners) contacted(from, to int) int {
	n := 0
	for i := from; i < to; i++ {
		if l.got[i].Load() > 0 {
			n++
		}
	}
	return n
}

func (l *loopbackListeners) datagrams() int64 {
	var n int64
	for i := range l.got {
		n += l.got[i].Load()
	}
	return n
}

// sendonlyOffer is a pion client's offer to publish audio, without
// candidates: the client never starts ICE, so nothing answers the checks.
func sendonlyOffer(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// answerTo is a pion client's answer to a subscriber offer, without
// candidates.
func answerTo(t *testing.T, offer string) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return answer.SDP
}

// withCandidates adds a=candidate lines to the first media section, the
// one whose candidates a bundled connection uses.
func withCandidates(t *testing.T, sdp string, cands []string) string {
	t.Helper()
	first := strings.Index(sdp, "\r\nm=")
	if first < 0 {
		t.Fatalf("no media section in %q", sdp)
	}
	end := len(sdp)
	if next := strings.Index(sdp[first+2:], "\r\nm="); next >= 0 {
		end = first + 2 + next + 2
	}
	var b strings.Builder
	b.WriteString(sdp[:end])
	for _, c := range cands {
		b.WriteString("a=" + c + "\r\n")
	}
	b.WriteString(sdp[end:])
	return b.String()
}

// nextOfType skips messages until one of type typ; an error fails.
func (r *rawClient) nextOfType(typ string) loadtest.Message {
	r.t.Helper()
	for {
		m := r.next()
		if m.Type == typ {
			return m
		}
		if m.Type == "error" || m.Type == "close" {
			r.t.Fatalf("got %s while waiting for %s", m.Raw, typ)
		}
	}
}

// replyToOffer reads up to a pong, sent after the offer, and returns the
// answer and the errors received.
func (r *rawClient) replyToOffer() (answer string, errs []loadtest.Message) {
	r.t.Helper()
	r.send(map[string]string{"type": "ping"})
	for m := r.next(); m.Type != "pong"; m = r.next() {
		switch m.Type {
		case "answer":
			answer = m.SDP
		case "error":
			errs = append(errs, m)
		case "close":
			r.t.Fatalf("closed: %s %s", m.Code, m.Message)
		}
	}
	return answer, errs
}

// wantErrorContaining skips other messages until an error, which must
// have this code and ref and a message containing text.
func (r *rawClient) wantErrorContaining(code, ref, text string) {
	r.t.Helper()
	m := r.skipTo("error")
	checkError(r.t, m, code, ref)
	if !strings.Contains(m.Message, text) {
		r.t.Fatalf("error %q does not say %q", m.Message, text)
	}
}

// pings proves the session goes on, skipping the server's candidates.
func (r *rawClient) pings() {
	r.t.Helper()
	r.send(map[string]string{"type": "ping"})
	if m := r.skipTo("pong", "error", "close"); m.Type != "pong" {
		r.t.Fatalf("got %s, want pong", m.Raw)
	}
}

// skipTo skips messages until one of the types.
func (r *rawClient) skipTo(types ...string) loadtest.Message {
	r.t.Helper()
	for {
		m := r.next()
		for _, typ := range types {
			if m.Type == typ {
				return m
			}
		}
	}
}
