package loadtest

import (
	"errors"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Media describes the stream a client publishes: generated frames, or
// real encoded ones when Samples is set.
type Media struct {
	// FPS and FrameBytes shape the generated video: FrameBytes over
	// ~1,200 spans several RTP packets per frame. Unused with Samples.
	FPS        int
	FrameBytes int
	// KeyframeEvery is the interval between unsolicited keyframes; a PLI
	// from the SFU also produces one at the next frame. Unused with Samples.
	KeyframeEvery time.Duration
	Audio         bool
	// Simulcast sends three layers, rids q, h and f, with frames of a
	// quarter, a half and all of FrameBytes, so a receiver can tell them
	// apart by frame size.
	Simulcast bool
	// AudioOnly publishes no video (with Samples only).
	AudioOnly bool
	// Source, when set, is the source the offer names for the video
	// track ("camera", "screen"; signaling/PROTOCOL.md); unset leaves it
	// to the server's default.
	Source string
	// Samples, when set, is real media to send instead of generated
	// frames (see LoadSamples), looped for as long as the client
	// publishes: simulcast layer i is Samples.Layers[i], a single layer is
	// the top one, and the audio is Samples.Audio.
	Samples *Samples
	// Sent, when set, is called right before frame number frame of video
	// layer layer (0 = q) is written, from the goroutine that
	// writes them: it must not block. With Samples, layer and frame index
	// Samples.Layers (a single layer is 2) and frame starts again at 0 on
	// every loop and keyframe request; generated frames count up from 0.
	// With Samples it is also called before each audio packet, with layer
	// AudioLayer and the packet's index in Samples.Audio.
	Sent func(layer, frame int)
}

// AudioLayer is the layer Media.Sent reports audio packets with.
const AudioLayer = 3

// simulcastRIDs are the layer names browsers use, lowest first.
var simulcastRIDs = []string{"q", "h", "f"}

// LayerFrameBytes is the frame size of simulcast layer i (0 = q).
func (m Media) LayerFrameBytes(i int) int { return m.FrameBytes >> (2 - i) }

// DefaultMedia is a 30 fps video stream of about 600 kbit/s with Opus-sized audio.
var DefaultMedia = Media{FPS: 30, FrameBytes: 2500, KeyframeEvery: 3 * time.Second, Audio: true}

// Publish offers audio and video on the publisher connection and starts
// sending frames until the client closes.
func (c *Client) Publish(m Media) error {
	if m.Samples != nil {
		if err := m.Samples.check(); err != nil {
			return err
		}
	} else if m.FPS <= 0 || m.FrameBytes <= 0 {
		return errors.New("loadtest: media needs FPS and FrameBytes")
	}
	if m.AudioOnly && m.Samples == nil {
		return errors.New("loadtest: audio-only publishing needs Samples")
	}
	var videos []*webrtc.TrackLocalStaticSample
	var vs *webrtc.RTPTransceiver
	if !m.AudioOnly {
		var err error
		if videos, vs, err = c.addVideo(m); err != nil {
			return err
		}
	}
	var audio *webrtc.TrackLocalStaticSample
	if m.Audio {
		var err error
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
	pli := c.peer.keyframes() // a peer connection asks for keyframes too
	if vs != nil {
		c.videoSender, c.videoSource = vs.Sender(), m.Source
		c.videoTracks.Store(&videos)
		c.videoPLI = pli
	}
	switch {
	case vs == nil:
	case m.Simulcast:
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
	default:
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			drainSender(vs.Sender(), pli)
		}()
	}

	if err := c.offer(); err != nil {
		return err
	}
	if vs != nil && m.Simulcast {
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
		if m.Samples != nil {
			c.playSamples(m, videos, audio, pli)
		} else {
			c.generate(m, audio, pli)
		}
	}()
	return nil
}

// addVideo adds the video transceiver: one track, or three simulcast
// encodings.
func (c *Client) addVideo(m Media) ([]*webrtc.TrackLocalStaticSample, *webrtc.RTPTransceiver, error) {
	codec, err := c.publishCodec()
	if err != nil {
		return nil, nil, err
	}
	var videos []*webrtc.TrackLocalStaticSample
	if m.Simulcast {
		for _, rid := range simulcastRIDs {
			t, err := webrtc.NewTrackLocalStaticSample(codec, "video", "stream", webrtc.WithRTPStreamID(rid))
			if err != nil {
				return nil, nil, err
			}
			videos = append(videos, t)
		}
	} else {
		t, err := webrtc.NewTrackLocalStaticSample(codec, "video", "stream")
		if err != nil {
			return nil, nil, err
		}
		videos = append(videos, t)
	}
	vs, err := c.pub.AddTransceiverFromTrack(videos[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, nil, err
	}
	for _, t := range videos[1:] {
		if err := vs.Sender().AddEncoding(t); err != nil {
			return nil, nil, err
		}
	}
	return videos, vs, nil
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

// generate writes frames on a ticker (videoFrame says what they hold) to
// the tracks of videoTracks, which a codec switch replaces; the first
// frame on new tracks is a keyframe.
func (c *Client) generate(m Media, audio *webrtc.TrackLocalStaticSample, pli <-chan struct{}) {
	frameDur := time.Second / time.Duration(m.FPS)
	vt := time.NewTicker(frameDur)
	defer vt.Stop()
	at := time.NewTicker(20 * time.Millisecond)
	defer at.Stop()
	buf := make([]byte, m.FrameBytes+5)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	silence := make([]byte, 60)
	tee := c.peer.mediaTee()
	lastKey := time.Time{}
	var last *[]*webrtc.TrackLocalStaticSample
	n := 0 // frames sent
	for {
		select {
		case <-c.stop:
			return
		case <-pli:
			lastKey = time.Time{}
		case <-at.C:
			if audio != nil {
				tee.writeAudio(audio, media.Sample{Data: silence, Duration: 20 * time.Millisecond})
			}
		case now := <-vt.C:
			tracks := c.videoTracks.Load()
			if tracks == nil {
				continue
			}
			if tracks != last {
				last, lastKey = tracks, time.Time{}
			}
			key := now.Sub(lastKey) >= m.KeyframeEvery
			if key {
				lastKey = now
			}
			for i, v := range *tracks {
				size := m.FrameBytes
				if m.Simulcast {
					size = m.LayerFrameBytes(i)
				}
				if m.Sent != nil {
					m.Sent(i, n)
				}
				tee.writeVideo(v, i == len(*tracks)-1, media.Sample{Data: videoFrame(buf, v.Codec().MimeType, key, size), Duration: frameDur})
			}
			n++
		}
	}
}

// playSamples loops m.Samples, each stream paced by its frames' durations
// against the wall clock.
func (c *Client) playSamples(m Media, videos []*webrtc.TrackLocalStaticSample, audio *webrtc.TrackLocalStaticSample, pli <-chan struct{}) {
	p := newSamplePlayer(m, videos, audio)
	p.tee = c.peer.mediaTee()
	vt := time.NewTimer(0)
	defer vt.Stop()
	at := time.NewTimer(0)
	defer at.Stop()
	var audioDue <-chan time.Time // nil without audio: never ready
	if audio != nil {
		audioDue = at.C
	}
	vNext, aNext := time.Now(), time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-pli:
			p.keyframeRequested()
		case <-audioDue:
			aNext = c.paced(schedule(at, aNext, p.writeAudio()))
		case <-vt.C:
			vNext = c.paced(schedule(vt, vNext, p.writeVideo()))
		}
	}
}

// samplePlayer writes Samples to a publisher's tracks: frame i of every
// layer at once, and the audio packets. RTP timestamps run on across the
// loop because WriteSample advances them by each frame's Duration.
//
// A keyframe request restarts every layer at frame 0, which is a keyframe
// in all of them (Samples.check), unless the next frame is a keyframe
// anyway: the receiver gets one within a frame time instead of waiting
// for the clip's next one, and the layers stay on the same frame.
type samplePlayer struct {
	s      *Samples
	videos []*webrtc.TrackLocalStaticSample
	audio  *webrtc.TrackLocalStaticSample // nil: no audio
	first  int                            // the sample layer videos[0] sends
	sent   func(layer, frame int)
	tee    *mediaTee // nil: the publisher's tracks only
	vi, ai int       // the next video frame and audio packet
}

func newSamplePlayer(m Media, videos []*webrtc.TrackLocalStaticSample, audio *webrtc.TrackLocalStaticSample) *samplePlayer {
	p := &samplePlayer{s: m.Samples, videos: videos, audio: audio, sent: m.Sent}
	if !m.Simulcast {
		p.first = len(m.Samples.Layers) - 1
	}
	return p
}

// writeVideo writes the next frame of every layer and returns how long it
// lasts. It must not allocate: it runs for every frame of every publisher.
func (p *samplePlayer) writeVideo() time.Duration {
	for j, v := range p.videos {
		f := p.s.Layers[p.first+j][p.vi]
		if p.sent != nil {
			// Before the write: on loopback the first packet can arrive
			// before WriteSample returns.
			p.sent(p.first+j, p.vi)
		}
		p.tee.writeVideo(v, j == len(p.videos)-1, media.Sample{Data: f.Data, Duration: f.Duration})
	}
	d := p.s.Layers[p.first][p.vi].Duration
	p.vi = (p.vi + 1) % len(p.s.Layers[p.first])
	return d
}

// writeAudio writes the next audio packet and returns how long it lasts.
func (p *samplePlayer) writeAudio() time.Duration {
	a := p.s.Audio[p.ai]
	if p.sent != nil {
		p.sent(AudioLayer, p.ai)
	}
	p.tee.writeAudio(p.audio, media.Sample{Data: a.Data, Duration: a.Duration})
	p.ai = (p.ai + 1) % len(p.s.Audio)
	return a.Duration
}

// keyframeRequested makes the next video frame a keyframe.
func (p *samplePlayer) keyframeRequested() {
	if !p.s.keyframe(p.vi) {
		p.vi = 0
	}
}

// keyframe says whether frame i is a keyframe in every layer.
func (s *Samples) keyframe(i int) bool {
	for _, l := range s.Layers {
		if !l[i].Key {
			return false
		}
	}
	return true
}

// schedule sets t to fire d after next, the time the previous frame was
// due, and returns the new due time and how many frames it skipped. A
// sender more than d behind (a stalled process) skips ahead instead of
// bursting to catch up, as a ticker drops ticks.
func schedule(t *time.Timer, next time.Time, d time.Duration) (time.Time, int) {
	now := time.Now()
	next = next.Add(d)
	skipped := 0
	if next.Before(now.Add(-d)) {
		skipped = int(now.Sub(next) / d)
		next = now
	}
	t.Reset(next.Sub(now))
	return next, skipped
}

// paced counts a frame published and the frames schedule skipped, and
// returns next.
func (c *Client) paced(next time.Time, skipped int) time.Time {
	c.published.Add(1)
	c.skipped.Add(int64(skipped))
	return next
}

// Published returns how many frames (video frames and audio packets) the
// client published from the sample clip, and how many more fell due but
// were skipped because the process was too busy to send them on time.
func (c *Client) Published() (sent, skipped int64) {
	return c.published.Load(), c.skipped.Load()
}

// offer sends a new offer for the publisher connection.
func (c *Client) offer() error { return c.offerWith(nil) }

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
