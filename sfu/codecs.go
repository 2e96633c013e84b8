package sfu

import (
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "transport-cc"}, {Type: "ccm", Parameter: "fir"},
	{Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

// videoCodecs are offered in order of preference: VP8 first because every
// browser decodes it; the others are used when a publisher prefers them.
var videoCodecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: videoFeedback}, PayloadType: 98},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFeedback}, PayloadType: 102},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: videoFeedback}, PayloadType: 104},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", RTCPFeedback: videoFeedback}, PayloadType: 106},
}

var audioCodecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}}}, PayloadType: 111},
}

// registerCodecs fills a MediaEngine. With RTX (RFC 4588), publishers
// retransmit and probe on a separate SSRC that pion unwraps for us. The SFU
// itself sends neither retransmissions nor probe padding on RTX toward
// subscribers: pion reads no RTCP addressed to an RTX SSRC, and Chromium
// addresses transport-wide feedback to the SSRC of the last packet it got,
// so feedback would be lost. It uses the media SSRC for both.
func registerCodecs(m *webrtc.MediaEngine) error {
	for _, c := range audioCodecs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	for _, c := range videoCodecs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
		if err := m.RegisterCodec(rtxOf(c), webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	return nil
}

// rtxOf is the RTX codec registered for video codec c.
func rtxOf(c webrtc.RTPCodecParameters) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=" + strconv.Itoa(int(c.PayloadType))},
		PayloadType:        c.PayloadType + 1,
	}
}

// matchCodec picks, among the codecs negotiated with a subscriber, the one
// that carries the publisher's codec: same MIME type and, for H.264, the
// same profile and packetization mode.
func matchCodec(want webrtc.RTPCodecParameters, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i := range have {
		c := &have[i]
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if fmtpKey(c.SDPFmtpLine) == fmtpKey(want.SDPFmtpLine) {
			return *c, true
		}
		if fallback == nil && !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) {
			fallback = c
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// fmtpKey keeps the fmtp parameters that must agree for a stream to be
// decodable as is.
func fmtpKey(fmtp string) string {
	var profile, mode, vp9 string
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "profile-level-id":
			if len(v) >= 4 {
				profile = strings.ToLower(v[:4]) // profile_idc and constraints; level may differ
			}
		case "packetization-mode":
			mode = v
		case "profile-id":
			vp9 = v
		}
	}
	if mode == "" && profile != "" {
		mode = "0"
	}
	return profile + "/" + mode + "/" + vp9
}
