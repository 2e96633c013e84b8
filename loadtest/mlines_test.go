package loadtest

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// TestRecycledMLine has a pion offerer reuse an m-line, as the SFU does,
// after it stayed inactive through two offers: the answerer, applying the
// offers as the Client does, gets the new track on it, and answers the
// idle m-line inactive. Without reviveInactive, pion would have stopped
// the m-line's receiver for good at the second inactive offer.
func TestRecycledMLine(t *testing.T) {
	newPC := func() (*webrtc.API, *webrtc.PeerConnection) {
		m := &webrtc.MediaEngine{}
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
		se, _, err := newSettingEngine(Options{LoopbackOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close() })
		return api, pc
	}
	api, off := newPC()
	_, ans := newPC()
	tracks := make(chan string, 4)
	ans.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { tracks <- tr.StreamID() })
	// negotiate runs one offer and answer, candidates included, and
	// returns the answer the offerer got.
	negotiate := func() string {
		t.Helper()
		offer, err := off.CreateOffer(nil)
		if err == nil {
			err = off.SetLocalDescription(offer)
		}
		if err != nil {
			t.Fatal(err)
		}
		<-webrtc.GatheringCompletePromise(off)
		sdp, inactive := reviveInactive(off.LocalDescription().SDP)
		if err := ans.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			t.Fatal(err)
		}
		answer, err := ans.CreateAnswer(nil)
		if err == nil {
			err = ans.SetLocalDescription(answer)
		}
		if err != nil {
			t.Fatal(err)
		}
		<-webrtc.GatheringCompletePromise(ans)
		sent := keepInactive(ans.LocalDescription().SDP, inactive)
		if err := off.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sent}); err != nil {
			t.Fatal(err)
		}
		return sent
	}
	done := make(chan struct{})
	defer close(done)
	send := func(stream string) *webrtc.TrackLocalStaticSample {
		tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", stream)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					_ = tr.WriteSample(media.Sample{Data: []byte{0xfc, 1, 2, 3}, Duration: 20 * time.Millisecond})
				}
			}
		}()
		return tr
	}
	want := func(stream string) {
		t.Helper()
		select {
		case got := <-tracks:
			if got != stream {
				t.Fatalf("track of stream %q, want %q", got, stream)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no track of stream %q", stream)
		}
	}

	first := send("first")
	tc, err := off.AddTransceiverFromTrack(first, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	negotiate()
	want("first")

	if err := off.RemoveTrack(tc.Sender()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if answer := negotiate(); !strings.Contains(answer, "a=inactive") || strings.Contains(answer, "a=recvonly") {
			t.Fatalf("answer to an offer with the m-line idle:\n%s", answer)
		}
	}

	second := send("second")
	sender, err := api.NewRTPSender(second, off.SCTP().Transport())
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.SetSender(sender, second); err != nil {
		t.Fatal(err)
	}
	negotiate()
	want("second")
	if n := len(ans.GetTransceivers()); n != 1 {
		t.Errorf("the answerer has %d transceivers, want 1", n)
	}
}
