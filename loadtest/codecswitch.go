package loadtest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Publishing in another codec than VP8: a client that sends H.264, and
// switches to another codec when the server asks (a codec message,
// signaling/PROTOCOL.md "Codecs"), as the web client does.

// publishCapabilities are the video codecs a client can publish
// generated frames in, with the parameters the SFU registers them with.
var publishCapabilities = map[string]webrtc.RTPCodecCapability{
	"video/vp8":  {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
	"video/h264": {MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
}

// h264PayloadType is the payload type the client registers H.264 with
// when it publishes in it (Options.PublishCodec).
const h264PayloadType = 102

// publishCodec is the capability of the codec the client publishes its
// video in: Options.PublishCodec, VP8 by default.
func (c *Client) publishCodec() (webrtc.RTPCodecCapability, error) {
	return publishCapability(c.opts.PublishCodec)
}

func publishCapability(mime string) (webrtc.RTPCodecCapability, error) {
	if mime == "" {
		mime = webrtc.MimeTypeVP8
	}
	want, ok := publishCapabilities[strings.ToLower(mime)]
	if !ok {
		return webrtc.RTPCodecCapability{}, fmt.Errorf("loadtest: cannot publish video in %q", mime)
	}
	return want, nil
}

// registerPublishCodecs registers on a publisher connection's engine the
// codec of Options.PublishCodec beside VP8, when it is not VP8.
func registerPublishCodecs(m *webrtc.MediaEngine, opts Options, fb []webrtc.RTCPFeedback) error {
	want, err := publishCapability(opts.PublishCodec)
	if err != nil || want.MimeType == webrtc.MimeTypeVP8 {
		return err
	}
	want.RTCPFeedback = fb
	return m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: want, PayloadType: h264PayloadType}, webrtc.RTPCodecTypeVideo)
}

// SwitchVideoCodec publishes the video anew in codec (a MIME type: VP8,
// or Options.PublishCodec), as the web client does when the server asks
// it to: a new track on a new m-line, the old one removed, in one offer.
// Generated single-layer video only; frames go to the new track from the
// next one, a keyframe.
func (c *Client) SwitchVideoCodec(codec string) error {
	if c.videoSender == nil || c.videoTracks.Load() == nil {
		return errors.New("loadtest: not publishing generated video")
	}
	if len(*c.videoTracks.Load()) != 1 {
		return errors.New("loadtest: a simulcast codec switch is not supported")
	}
	want, err := publishCapability(codec)
	if err != nil {
		return err
	}
	track, err := webrtc.NewTrackLocalStaticSample(want, "video", "stream")
	if err != nil {
		return err
	}
	tr, err := c.pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	if err := c.pub.RemoveTrack(c.videoSender); err != nil {
		return err
	}
	c.videoSender = tr.Sender()
	c.videoTracks.Store(&[]*webrtc.TrackLocalStaticSample{track})
	pli := c.videoPLI
	c.goTracked(func() { drainSender(tr.Sender(), pli) })
	return c.offer()
}

// videoFrame fills buf with a generated frame of size bytes in codec
// (a MIME type) and returns it: a keyframe if key. Only what the SFU
// reads is real: VP8's P bit (RFC 6386, 9.1), an H.264 NAL unit type (IDR
// or not, in Annex B as pion's payloader expects). The filler never holds
// two zero bytes in a row, so it never looks like a start code.
func videoFrame(buf []byte, codec string, key bool, size int) []byte {
	if codec == webrtc.MimeTypeH264 {
		f := buf[:size+5]
		copy(f, []byte{0, 0, 0, 1, 0x41})
		if key {
			f[4] = 0x65
		}
		return f
	}
	f := buf[:size]
	f[0] = 0x11 // interframe: P bit 1
	if key {
		f[0] = 0x10
	}
	return f
}
