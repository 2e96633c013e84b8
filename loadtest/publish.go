package loadtest

import (
	"errors"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Media describes the synthetic stream a client publishes.
type Media struct {
	// FPS and FrameBytes shape the video: FrameBytes over ~1,200 spans
	// several RTP packets per frame.
	FPS        int
	FrameBytes int
	// KeyframeEvery is the interval between unsolicited keyframes; a PLI
	// from the SFU also produces one at the next frame.
	KeyframeEvery time.Duration
	Audio         bool
	// Simulcast sends three layers, rids q, h and f, with frames of a
	// quarter, a half and all of FrameBytes, so a receiver can tell them
	// apart by frame size.
	Simulcast bool
}

// simulcastRIDs are the layer names browsers use, lowest first.
var simulcastRIDs = []string{"q", "h", "f"}

// LayerFrameBytes is the frame size of simulcast layer i (0 = q).
func (m Media) LayerFrameBytes(i int) int { return m.FrameBytes >> (2 - i) }

// DefaultMedia is a 30 fps video stream of about 600 kbit/s with Opus-sized audio.
var DefaultMedia = Media{FPS: 30, FrameBytes: 2500, KeyframeEvery: 3 * time.Second, Audio: true}

// Publish offers audio and video on the publisher connection and starts
// sending generated frames until the client closes.
func (c *Client) Publish(m Media) error {
	if m.FPS <= 0 || m.FrameBytes <= 0 {
		return errors.New("loadtest: media needs FPS and FrameBytes")
	}
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	var videos []*webrtc.TrackLocalStaticSample
	if m.Simulcast {
		for _, rid := range simulcastRIDs {
			t, err := webrtc.NewTrackLocalStaticSample(vp8, "video", "stream", webrtc.WithRTPStreamID(rid))
			if err != nil {
				return err
			}
			videos = append(videos, t)
		}
	} else {
		t, err := webrtc.NewTrackLocalStaticSample(vp8, "video", "stream")
		if err != nil {
			return err
		}
		videos = append(videos, t)
	}
	vs, err := c.pub.AddTransceiverFromTrack(videos[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	for _, t := range videos[1:] {
		if err := vs.Sender().AddEncoding(t); err != nil {
			return err
		}
	}
	var audio *webrtc.TrackLocalStaticSample
	if m.Audio {
		audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "stream")
		if err != nil {
			return err
		}
		as, err := c.pub.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			drainSender(as.Sender(), nil)
		}()
	}
	c.videoSender = vs.Sender()
	pli := make(chan struct{}, 1)
	if m.Simulcast {
		for _, rid := range simulcastRIDs {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				drainRTCP(func() ([]rtcp.Packet, error) {
					p, _, err := vs.Sender().ReadSimulcastRTCP(rid)
					return p, err
				}, pli)
			}()
		}
	} else {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			drainSender(vs.Sender(), pli)
		}()
	}

	if err := c.offer(); err != nil {
		return err
	}
	if m.Simulcast {
		rids := map[uint32]string{}
		for _, e := range vs.Sender().GetParameters().Encodings {
			rids[uint32(e.SSRC)] = e.RID
		}
		c.rids.set(vs.Mid(), rids)
	}
	c.pubGate.release(func(init webrtc.ICECandidateInit) {
		_ = c.Send(map[string]any{"type": "candidate", "target": "publisher", "candidate": init})
	})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.generate(m, videos, audio, pli)
	}()
	return nil
}

// drainSender reads a sender's RTCP (which runs pion's interceptors) and
// signals keyframe requests on pli.
func drainSender(s *webrtc.RTPSender, pli chan<- struct{}) {
	drainRTCP(func() ([]rtcp.Packet, error) {
		p, _, err := s.ReadRTCP()
		return p, err
	}, pli)
}

func drainRTCP(read func() ([]rtcp.Packet, error), pli chan<- struct{}) {
	for {
		pkts, err := read()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if pli != nil {
					select {
					case pli <- struct{}{}:
					default:
					}
				}
			}
		}
	}
}

// generate writes frames on a ticker. A VP8 frame whose first byte has the
// low bit clear is a keyframe (RFC 6386 9.1), which is all the SFU checks.
func (c *Client) generate(m Media, videos []*webrtc.TrackLocalStaticSample, audio *webrtc.TrackLocalStaticSample, pli <-chan struct{}) {
	frameDur := time.Second / time.Duration(m.FPS)
	vt := time.NewTicker(frameDur)
	defer vt.Stop()
	at := time.NewTicker(20 * time.Millisecond)
	defer at.Stop()
	frame := make([]byte, m.FrameBytes)
	for i := range frame {
		frame[i] = byte(i*7 + 3)
	}
	silence := make([]byte, 60)
	lastKey := time.Time{}
	for {
		select {
		case <-c.stop:
			return
		case <-pli:
			lastKey = time.Time{}
		case <-at.C:
			if audio != nil {
				_ = audio.WriteSample(media.Sample{Data: silence, Duration: 20 * time.Millisecond})
			}
		case now := <-vt.C:
			if now.Sub(lastKey) >= m.KeyframeEvery {
				frame[0] = 0x10 // keyframe: P bit 0
				lastKey = now
			} else {
				frame[0] = 0x11 // interframe: P bit 1
			}
			for i, v := range videos {
				size := m.FrameBytes
				if m.Simulcast {
					size = m.LayerFrameBytes(i)
				}
				_ = v.WriteSample(media.Sample{Data: frame[:size], Duration: frameDur})
			}
		}
	}
}

// offer sends a new offer for the publisher connection.
func (c *Client) offer() error {
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		return err
	}
	return c.Send(map[string]any{"type": "offer", "sdp": offer.SDP})
}

// StopVideo stops publishing video (audio goes on) and renegotiates.
func (c *Client) StopVideo() error {
	if c.videoSender == nil {
		return errors.New("loadtest: not publishing video")
	}
	if err := c.pub.RemoveTrack(c.videoSender); err != nil {
		return err
	}
	c.videoSender = nil
	return c.offer()
}
