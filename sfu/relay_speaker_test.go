package sfu_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// levelPublisher joins an SFU directly (Join with an EventSink) and
// publishes one Opus track whose packets carry the RFC 6464 audio level
// extension, which loadtest.Client does not send.
type levelPublisher struct {
	t      *testing.T
	p      *sfu.Participant
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP
	level  atomic.Uint32 // the extension's byte: V flag and level
	events chan sfu.Event
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Send queues what the SFU tells the publisher, for handle.
func (c *levelPublisher) Send(ev sfu.Event) {
	select {
	case c.events <- ev:
	default:
		c.t.Errorf("level publisher: event %T dropped", ev)
	}
}

func newLevelPublisher(ctx context.Context, t *testing.T, s *sfu.SFU, room string) *levelPublisher {
	t.Helper()
	c := &levelPublisher{t: t, events: make(chan sfu.Event, 256), stop: make(chan struct{})}
	c.level.Store(127) // silence, no voice
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
	var err error
	if c.pc, err = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	if c.p, err = s.Join(room, who(), c); err != nil {
		t.Fatal(err)
	}
	if c.track, err = webrtc.NewTrackLocalStaticRTP(opus, "audio", "stream"); err != nil {
		t.Fatal(err)
	}
	tr, err := c.pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	answered := make(chan struct{})
	c.wg.Add(2)
	go c.handle(answered)
	go func() {
		defer c.wg.Done()
		for {
			if _, _, err := tr.Sender().ReadRTCP(); err != nil {
				return
			}
		}
	}()
	if err := c.p.HandleOffer(c.pc.LocalDescription().SDP, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-answered:
	case <-ctx.Done():
		t.Fatal("no answer to the publisher offer")
	}
	var extID uint8
	for _, e := range tr.Sender().GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI {
			extID = uint8(e.ID)
		}
	}
	if extID == 0 {
		t.Fatal("the SFU did not take the audio level extension")
	}
	c.wg.Add(1)
	go c.generate(extID)
	return c
}

// handle applies the SFU's answer and candidates.
func (c *levelPublisher) handle(answered chan<- struct{}) {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case ev := <-c.events:
			switch ev := ev.(type) {
			case sfu.PublisherAnswer:
				if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.SDP}); err != nil {
					c.t.Errorf("answer: %v", err)
				}
				close(answered)
			case sfu.Candidate:
				if ev.Target == sfu.TargetPublisher {
					_ = c.pc.AddICECandidate(ev.Candidate)
				}
			}
		}
	}
}

// setLevel sets the level (-dBov, 0 loudest) and V flag of what is sent next.
func (c *levelPublisher) setLevel(level uint8, voice bool) {
	b := uint32(level & 0x7f)
	if voice {
		b |= 0x80
	}
	c.level.Store(b)
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

func (c *levelPublisher) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	_ = c.pc.Close()
	if c.p != nil {
		c.p.Close()
	}
	c.wg.Wait()
}

// speakers returns the speakers messages c received, in order.
func speakers(c *loadtest.Client) []loadtest.Message {
	var out []loadtest.Message
	for _, m := range c.Messages() {
		if m.Type == "speakers" {
			out = append(out, m)
		}
	}
	return out
}

// TestRelayActiveSpeaker publishes audio levels on node A: the relay
// carries them, so that node B finds the active speaker among A's
// participants and tells its own clients.
func TestRelayActiveSpeaker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})
	quietOnA := a.join(ctx, "speakers") // keeps the room open on A
	speaker := newLevelPublisher(ctx, t, a.sfu, "speakers")
	listener := b.join(ctx, "speakers")
	openRelay(t, a.sfu, b.sfu, "speakers", nil)
	seesJoin(t, listener, quietOnA.Self.Identity)
	eventually(t, 15*time.Second, "the speaker's audio at B", func() bool {
		_, packets, _ := receivedFrom(listener, speaker.p.ID())
		return packets > 50
	})
	if s := speakers(listener); len(s) != 0 {
		t.Fatalf("speakers reported while everybody is silent: %+v", s)
	}

	speaker.setLevel(20, true) // -20 dBov, voice: someone talking
	eventually(t, 5*time.Second, "B's client told that A's participant speaks", func() bool {
		s := speakers(listener)
		return len(s) > 0 && s[len(s)-1].Active == speaker.p.ID() && slices.Contains(s[len(s)-1].Speakers, speaker.p.ID())
	})
	speaker.setLevel(127, false)
	eventually(t, 5*time.Second, "B's client told that nobody speaks", func() bool {
		s := speakers(listener)
		last := s[len(s)-1]
		return last.Active == "" && len(last.Speakers) == 0
	})
}
