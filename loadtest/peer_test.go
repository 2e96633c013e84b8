package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// wire carries one side's signaling messages to the other, in order, as
// the server relays them, delivered when the test says. Like the client
// (peerlink.go), it sends a candidate only after the description it
// belongs to: pion gathers, and calls OnICECandidate, as soon as the
// description is set, before the offer or answer is sent, and a peer
// drops a candidate of ICE credentials it does not know yet.
type wire struct {
	mu    sync.Mutex
	msgs  []Message
	ufrag string    // of the last description sent
	held  []Message // candidates of a description not sent yet
}

func (w *wire) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case m.Type == "offer" || m.Type == "answer":
		w.ufrag = iceUfrag(m.SDP)
		w.msgs = append(w.msgs, m)
		held := w.held
		w.held = nil
		for _, c := range held {
			w.sendCandidateLocked(c)
		}
	case m.Type == "candidate":
		w.sendCandidateLocked(m)
	default:
		w.msgs = append(w.msgs, m)
	}
	return nil
}

func (w *wire) sendCandidateLocked(m Message) {
	if c := m.Candidate; c != nil {
		// pion writes the credentials' ufrag into the candidate line.
		f := strings.Fields(c.Candidate)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "ufrag" && f[i+1] != w.ufrag {
				w.held = append(w.held, m)
				return
			}
		}
	}
	w.msgs = append(w.msgs, m)
}

// take removes and returns the messages sent so far.
func (w *wire) take() []Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// testPeer is a peer connection as peerSide opens one, without a client:
// audio and video tracks, loopback ICE, a negotiator sending on out.
func testPeer(t *testing.T, polite bool) (*negotiator, *wire) {
	t.Helper()
	o := Options{LoopbackOnly: true}
	se, _, err := newSettingEngine(o)
	if err != nil {
		t.Fatal(err)
	}
	api, err := newAPI(o, &ridTagger{}, se, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, c := range []webrtc.RTPCodecCapability{
		{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
	} {
		tr, err := webrtc.NewTrackLocalStaticSample(c, c.MimeType, "peer")
		if err == nil {
			_, err = pc.AddTrack(tr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	out := &wire{}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			_ = out.send(map[string]any{"type": "candidate", "target": "peer", "candidate": c.ToJSON()})
		}
	})
	return &negotiator{pc: pc, polite: polite, send: out.send}, out
}

// deliver hands n the messages on w and returns them.
func deliver(t *testing.T, n *negotiator, w *wire) []Message {
	t.Helper()
	msgs := w.take()
	for _, m := range msgs {
		if err := n.remote(m); err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
	}
	return msgs
}

func ofType(msgs []Message, typ string) []Message {
	var out []Message
	for _, m := range msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// TestNegotiatorGlare: an offer of the polite side (a browser's) crosses
// the impolite side's: the impolite side ignores it, with its candidates,
// and its own is answered. An ICE restart asked for while an offer is
// under way is made once that is answered. The polite side of the Go
// client makes no offers. Both end stable and connected.
func TestNegotiatorGlare(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the connections' cleanup
	imp, toPol := testPeer(t, false)
	pol, toImp := testPeer(t, true)
	browser, fromBrowser := testPeer(t, false) // offers as a polite browser may
	if err := pol.offer(false); !errors.Is(err, ErrPoliteOffer) {
		t.Errorf("the polite side offered: %v, want ErrPoliteOffer", err)
	}
	if err := imp.offer(false); err != nil {
		t.Fatal(err)
	}
	if err := browser.offer(false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // some candidates come with it
	deliver(t, imp, fromBrowser)
	if imp.ignored != 1 || imp.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		t.Errorf("the crossing offer: %d ignored, state %v; want it ignored", imp.ignored, imp.pc.SignalingState())
	}
	if err := imp.offer(true); err != nil { // held until the answer
		t.Fatal(err)
	}
	offers := ofType(deliver(t, pol, toPol), "offer")
	if answers := ofType(deliver(t, imp, toImp), "answer"); len(offers) != 1 || len(answers) != 1 {
		t.Fatalf("%d offers, %d answers; want one each", len(offers), len(answers))
	}
	offers = append(offers, ofType(deliver(t, pol, toPol), "offer")...)
	if len(offers) != 2 || iceUfrag(offers[0].SDP) == iceUfrag(offers[1].SDP) {
		t.Fatalf("%d offers, want the ICE restart after the first was answered", len(offers))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		// The restart's answer, and candidates meanwhile.
		deliver(t, imp, toImp)
		deliver(t, pol, toPol)
		if imp.pc.ConnectionState() == webrtc.PeerConnectionStateConnected && pol.pc.ConnectionState() == webrtc.PeerConnectionStateConnected &&
			imp.pc.SignalingState() == webrtc.SignalingStateStable {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range []*negotiator{imp, pol} {
		if s, c := n.pc.SignalingState(), n.pc.ConnectionState(); s != webrtc.SignalingStateStable || c != webrtc.PeerConnectionStateConnected {
			t.Errorf("polite %v: %v, %v; want stable and connected", n.polite, s, c)
		}
	}
}

// iceUfrag is the first ICE username fragment in sdp.
func iceUfrag(sdp string) string {
	const attr = "a=ice-ufrag:"
	i := strings.Index(sdp, attr)
	if i < 0 {
		return ""
	}
	rest := sdp[i+len(attr):]
	return rest[:strings.IndexAny(rest, "\r\n")]
}

// TestKeyWatch finds complete keyframes: the start of a keyframe, then
// the marker packet of the same frame.
func TestKeyWatch(t *testing.T) {
	pkt := func(ts uint32, payload []byte, marker bool) *pionrtp.Packet {
		return &pionrtp.Packet{Header: pionrtp.Header{Timestamp: ts, Marker: marker}, Payload: payload}
	}
	keyStart, deltaStart, more := []byte{0x10, 0x10, 0}, []byte{0x10, 0x11, 0}, []byte{0x00, 0}
	var k keyWatch
	for i, tc := range []struct {
		p    *pionrtp.Packet
		want bool
	}{
		{pkt(1, more, true), false},        // the end of a frame whose start was missed
		{pkt(2, deltaStart, false), false}, // an interframe
		{pkt(2, more, true), false},
		{pkt(3, keyStart, false), false}, // a keyframe of three packets
		{pkt(3, more, false), false},
		{pkt(3, more, true), true},
		{pkt(4, keyStart, false), false}, // a keyframe whose end is lost
		{pkt(5, more, true), false},
		{pkt(6, keyStart, true), true}, // one packet
	} {
		if got := k.see(tc.p); got != tc.want {
			t.Errorf("packet %d: %v, want %v", i, got, tc.want)
		}
	}
}

// TestPeerDisplay steps a client's display of its peer through a call
// that goes direct and back to the SFU, with times passed in: which path
// is shown, when the switch to the SFU is done, and the gap each switch
// left.
func TestPeerDisplay(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	s := &peerSide{now: func() time.Time { return now }, pli: make(chan struct{}, 1), wake: make(chan struct{}, 1),
		display: map[string]*shown{}, roster: roster{}, status: PeerStatus{Mode: "sfu"},
		afterFunc: func(time.Duration, func()) *time.Timer { return time.NewTimer(time.Hour) }}
	l := &peerLink{peerID: "bob", said: map[string]bool{}}
	s.link, s.cur = l, l
	defer func() {
		if l.timer != nil {
			l.timer.Stop()
		}
	}()
	seq := map[*peerLink]uint16{}
	// frame shows one video frame of bob over l (nil: the SFU) at ms
	// after start.
	frame := func(l *peerLink, ms int, key bool) {
		now = start.Add(time.Duration(ms) * time.Millisecond)
		first := []byte{0x10, 0x11, 0}
		if key {
			first = []byte{0x10, 0x10, 0}
		}
		ts := uint32(ms * 90)
		s.saw(l, "bob", false, &pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: seq[l], Timestamp: ts}, Payload: first}, now)
		s.saw(l, "bob", false, &pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: seq[l] + 1, Timestamp: ts, Marker: true}, Payload: []byte{0, 0}}, now)
		seq[l] += 2
	}
	showing := func(want string) {
		t.Helper()
		if got := s.shownOfLocked("bob").from; got != want {
			t.Fatalf("at %v: showing bob from %s, want %s", now.Sub(start), got, want)
		}
	}

	// Through the SFU; the peer connection's first keyframe plays.
	frame(nil, 0, true)
	frame(l, 10, true)
	if s.status.FirstMedia != start.Add(10*time.Millisecond) {
		t.Errorf("first direct media at %v, want 10ms", s.status.FirstMedia.Sub(start))
	}
	for ms := 30; ms <= 90; ms += 30 {
		frame(nil, ms, false)
		frame(l, ms+10, false)
	}
	showing(PathSFU)
	// Direct at 110 ms; the SFU's media stops.
	s.mode(Message{Type: "mode", Mode: "p2p", PeerID: "bob", Reason: "direct"}, start.Add(110*time.Millisecond))
	showing(PathPeer)
	for ms := 130; ms <= 1600; ms += 30 {
		frame(l, ms, false)
	}
	// Back to the SFU at 1610 ms: the direct media plays on until the
	// SFU's first keyframe, at 1720 ms; its interframes before do not.
	s.mode(Message{Type: "mode", Mode: "sfu", Reason: "third_joined"}, start.Add(1610*time.Millisecond))
	if s.tee.paused.Load() {
		t.Error("the tee still keeps media from the SFU")
	}
	frame(nil, 1630, false)
	frame(l, 1690, false)
	frame(nil, 1700, false)
	showing(PathPeer)
	frame(nil, 1720, true)
	showing(PathSFU)
	frame(l, 1730, false) // not shown any more
	for ms := 1750; ms <= 3000; ms += 30 {
		frame(nil, ms, false)
	}
	sw := s.status.Switches
	if len(sw) != 2 || sw[0].To != "p2p" || sw[1].To != "sfu" {
		t.Fatalf("switches %+v", sw)
	}
	// To p2p: the SFU's frame at 90 ms, the direct one at 130.
	if sw[0].Gap != 40*time.Millisecond || sw[0].Done != sw[0].At {
		t.Errorf("to p2p: gap %v, done %v after, want 40ms, at once", sw[0].Gap, sw[0].Done.Sub(sw[0].At))
	}
	// To the SFU: direct frames at 1600 and 1690 ms, the SFU's keyframe
	// at 1720.
	if sw[1].Gap != 90*time.Millisecond || sw[1].Done != start.Add(1720*time.Millisecond) {
		t.Errorf("to sfu: gap %v, done at %v, want 90ms, at 1720ms", sw[1].Gap, sw[1].Done.Sub(start))
	}
	if !s.status.Closed.IsZero() || s.link != l {
		t.Error("the peer connection closed before peerLinger passed")
	}
}
