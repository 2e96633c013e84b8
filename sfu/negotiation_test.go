package sfu

import (
	"errors"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"
)

// recordingSink keeps the events sent to a participant.
type recordingSink struct {
	mu     sync.Mutex
	events []Event
}

func (s *recordingSink) Send(ev Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

func (s *recordingSink) answers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ev := range s.events {
		if _, ok := ev.(PublisherAnswer); ok {
			n++
		}
	}
	return n
}

func testSFU(t *testing.T) *SFU {
	t.Helper()
	cfg := Default()
	cfg.UDPPort = 0
	cfg.NodeIP = "127.0.0.1"
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clientOffer is a real offer from a pion client publishing video.
func clientOffer(t testing.TB) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// An offer without ICE credentials parses, and pion refuses it only after
// leaving the stable state, from which it cannot roll back.
const lateRefusedOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"

func TestRefusedOfferLeavesPublisherUsable(t *testing.T) {
	s := testSFU(t)
	sink := &recordingSink{}
	p, err := s.Join("r", Identity{Identity: "a", Grants: Grants{Publish: true, Subscribe: true}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// HandleOffer catches this offer before pion; drive pion with it
	// directly to exercise the recovery behind that check.
	err = p.do(func() error {
		_, err := p.applyOffer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: lateRefusedOffer})
		if err == nil {
			t.Fatal("pion accepted an offer without ICE credentials")
		}
		if p.pub.SignalingState() == webrtc.SignalingStateStable {
			t.Skip("pion now refuses this offer without changing state; the recovery is not needed for it")
		}
		return p.recoverPublisher(err)
	})
	if !errors.Is(err, ErrBadSDP) {
		t.Fatalf("recovery returned %v, want ErrBadSDP", err)
	}
	if err := p.HandleOffer(lateRefusedOffer, nil); !errors.Is(err, ErrBadSDP) {
		t.Fatalf("HandleOffer(no ICE credentials) = %v, want ErrBadSDP", err)
	}
	if err := p.HandleOffer(clientOffer(t), nil); err != nil {
		t.Fatalf("a good offer after refused ones: %v", err)
	}
	if n := sink.answers(); n != 1 {
		t.Fatalf("%d answers sent, want 1", n)
	}
}
