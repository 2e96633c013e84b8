package signaling_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestActiveSpeaker publishes Opus with the audio level extension from two
// participants, A loud and B silent, and checks what B is told: that A
// speaks and has the floor, then, once A is quiet, that A no longer does.
func TestActiveSpeaker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	a := newLevelPublisher(ctx, t, ts, "speakers")
	b := newLevelPublisher(ctx, t, ts, "speakers")
	a.waitConnected(ctx)
	b.waitConnected(ctx)
	// Let the server hear both silent for a while, so that A's speech has
	// to outweigh its silence (a newcomer's first words count at once).
	base := testutil.ToFloat64(ts.metrics.PacketsReceived)
	eventually(t, 5*time.Second, "silence from both", func() bool {
		return testutil.ToFloat64(ts.metrics.PacketsReceived)-base >= 50
	})
	if evs := b.allSpeakers(); len(evs) != 0 {
		t.Fatalf("speakers reported while everybody is silent: %+v", evs)
	}

	start := time.Now()
	a.setLevel(20, true) // -20 dBov, voice: someone talking
	ev := b.waitSpeakers(t, start, time.Second, "A named active", func(ev speakersEvent) bool { return ev.Active == a.self })
	if !slices.Contains(ev.Speakers, a.self) || slices.Contains(ev.Speakers, b.self) {
		t.Errorf("speakers = %v, want A (%s) and not B (%s)", ev.Speakers, a.self, b.self)
	}
	t.Logf("B was told that A speaks after %v", ev.at.Sub(start).Round(time.Millisecond))
	// Everybody hears it, the speaker too (its own tile lights up).
	a.waitSpeakers(t, start, time.Second, "A told it speaks", func(ev speakersEvent) bool { return ev.Active == a.self })

	quiet := time.Now()
	a.setLevel(127, false)
	ev = b.waitSpeakers(t, quiet, time.Second, "A no longer named", func(ev speakersEvent) bool {
		return ev.Active != a.self && !slices.Contains(ev.Speakers, a.self)
	})
	if ev.Active != "" || len(ev.Speakers) != 0 {
		t.Errorf("after A went quiet: speakers %v, active %q; want nobody", ev.Speakers, ev.Active)
	}
	t.Logf("B was told that A stopped after %v", ev.at.Sub(quiet).Round(time.Millisecond))

	all := b.allSpeakers()
	for i, ev := range all {
		if slices.Contains(ev.Speakers, b.self) {
			t.Errorf("silent B named as speaking: %+v", ev)
		}
		if i > 0 {
			t.Logf("speakers event %d after %v: %v active %q", i, ev.at.Sub(all[i-1].at).Round(time.Millisecond), ev.Speakers, ev.Active)
		}
	}
}

// speakersEvent is a speakers message and when it arrived.
type speakersEvent struct {
	Speakers []string `json:"speakers"`
	Active   string   `json:"active"`
	at       time.Time
}

// levelPublisher is a minimal client that publishes one Opus track whose
// packets carry the RFC 6464 audio level extension (loadtest.Client sends
// none), and records the speakers messages it receives. It has no
// subscriber connection: it ignores the server's offers.
type levelPublisher struct {
	t         *testing.T
	self      string
	ws        *websocket.Conn
	wmu       sync.Mutex // serializes WebSocket writes
	pc        *webrtc.PeerConnection
	sender    *webrtc.RTPSender
	track     *webrtc.TrackLocalStaticRTP
	level     atomic.Uint32 // the extension's byte: V flag and level
	connected chan struct{}
	answered  chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup

	mu       sync.Mutex // guards speakers
	speakers []speakersEvent
	notify   chan struct{} // closed and replaced when a speakers message arrives
}

func newLevelPublisher(ctx context.Context, t *testing.T, ts *testServer, room string) *levelPublisher {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, ts.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &levelPublisher{t: t, ws: ws, connected: make(chan struct{}), answered: make(chan struct{}), stop: make(chan struct{}), notify: make(chan struct{})}
	c.level.Store(127) // silence, no voice
	t.Cleanup(c.close)
	c.send(map[string]any{"type": "join", "version": 1, "token": ts.token(room, allGrants)})
	var joined struct {
		Type string `json:"type"`
		Self struct {
			ID string `json:"id"`
		} `json:"self"`
	}
	if err := ws.ReadJSON(&joined); err != nil || joined.Type != "joined" {
		t.Fatalf("join: %+v, %v", joined, err)
	}
	c.self = joined.Self.ID

	m := &webrtc.MediaEngine{}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opus, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	c.pc, err = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	c.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(c.connected) })
		}
	})
	c.track, err = webrtc.NewTrackLocalStaticRTP(opus, "audio", "stream")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	c.sender = tr.Sender()

	// Gather first, so the offer carries our candidates and we need not
	// trickle them.
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	c.wg.Add(2)
	go c.readLoop()
	go c.drainRTCP()
	c.send(map[string]any{"type": "offer", "sdp": c.pc.LocalDescription().SDP})
	select {
	case <-c.answered:
	case <-ctx.Done():
		t.Fatal("no answer to the publisher offer")
	}
	var extID uint8
	for _, e := range c.sender.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI {
			extID = uint8(e.ID)
		}
	}
	if extID == 0 {
		t.Fatal("the server did not accept the audio level extension")
	}
	c.wg.Add(1)
	go c.generate(extID)
	return c
}

// setLevel sets the level (-dBov, 0 loudest) and V flag of what is sent next.
func (c *levelPublisher) setLevel(level uint8, voice bool) {
	b := uint32(level & 0x7f)
	if voice {
		b |= 0x80
	}
	c.level.Store(b)
}

func (c *levelPublisher) send(v any) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Logf("send: %v", err)
	}
}

func (c *levelPublisher) readLoop() {
	defer c.wg.Done()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			Type      string                   `json:"type"`
			SDP       string                   `json:"sdp"`
			Target    string                   `json:"target"`
			Candidate *webrtc.ICECandidateInit `json:"candidate"`
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case "answer":
			if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				c.t.Errorf("publisher answer: %v", err)
			}
			close(c.answered)
		case "candidate":
			// Candidates follow the answer they belong to.
			if m.Target == "publisher" && m.Candidate != nil {
				_ = c.pc.AddICECandidate(*m.Candidate)
			}
		case "speakers":
			ev := speakersEvent{at: time.Now()}
			if err := json.Unmarshal(data, &ev); err != nil {
				c.t.Errorf("bad speakers message %s: %v", data, err)
				continue
			}
			c.mu.Lock()
			c.speakers = append(c.speakers, ev)
			close(c.notify)
			c.notify = make(chan struct{})
			c.mu.Unlock()
		}
	}
}

// drainRTCP reads the server's RTCP for our track, as a sender must.
func (c *levelPublisher) drainRTCP() {
	defer c.wg.Done()
	for {
		if _, _, err := c.sender.ReadRTCP(); err != nil {
			return
		}
	}
}

// generate sends a 20 ms Opus packet every 20 ms with the current level.
func (c *levelPublisher) generate(extID uint8) {
	defer c.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 60)
	var seq uint16
	var ts uint32
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		seq++
		ts += 960
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: ts}, Payload: payload}
		if err := p.Header.SetExtension(extID, []byte{byte(c.level.Load())}); err != nil {
			c.t.Errorf("set extension: %v", err)
			return
		}
		_ = c.track.WriteRTP(p)
	}
}

func (c *levelPublisher) waitConnected(ctx context.Context) {
	c.t.Helper()
	select {
	case <-c.connected:
	case <-ctx.Done():
		c.t.Fatalf("%s: publisher connection never connected", c.self)
	}
}

// waitSpeakers returns the first speakers message received since that
// match accepts, failing the test if none came within timeout of since.
func (c *levelPublisher) waitSpeakers(t *testing.T, since time.Time, timeout time.Duration, what string, match func(speakersEvent) bool) speakersEvent {
	t.Helper()
	deadline := time.After(time.Until(since.Add(timeout)))
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.speakers); seen++ {
			if ev := c.speakers[seen]; !ev.at.Before(since) && match(ev) {
				c.mu.Unlock()
				return ev
			}
		}
		notify := c.notify
		c.mu.Unlock()
		select {
		case <-notify:
		case <-deadline:
			t.Fatalf("%s: timed out after %v waiting for %s; speakers messages: %+v", c.self, timeout, what, c.allSpeakers())
		}
	}
}

func (c *levelPublisher) allSpeakers() []speakersEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.speakers)
}

func (c *levelPublisher) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	_ = c.ws.Close()
	if c.pc != nil {
		_ = c.pc.Close()
	}
	c.wg.Wait()
}
