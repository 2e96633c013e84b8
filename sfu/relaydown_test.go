package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// levelWriter records the audio level extension (ID 5) of what it is
// given, without allocating.
type levelWriter struct {
	packets int
	level   byte
	missing int
}

func (w *levelWriter) WriteRTP(h *pionrtp.Header, _ []byte) (int, error) {
	w.packets++
	if v := h.GetExtension(5); len(v) == 1 {
		w.level = v[0]
	} else {
		w.missing++
	}
	return 0, nil
}

func (w *levelWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestRelayDownTrackCarriesLevel forwards Opus packets with an audio level
// (extension 1 from the publisher) to a relay's DownTrack, which must
// send each packet's level as the extension the relay negotiated (5),
// without allocating, and to a subscriber's, which sends none.
func TestRelayDownTrackCarriesLevel(t *testing.T) {
	up := newUpTrack(upTrackParams{
		id: "TR_audio", publisherID: "PA_pub", kind: webrtc.RTPCodecTypeAudio, codec: opus,
		cacheSize: 128, keyframeEvery: time.Second, sendPLI: func(uint32) {},
		now: time.Now, metrics: NewMetrics(nil),
	})
	up.setAudioLevelExt([]webrtc.RTPHeaderExtensionParameter{{URI: sdp.AudioLevelURI, ID: 1}})
	l, _ := up.addLayer(0, "", 5678)
	relayed, plain := &levelWriter{}, &levelWriter{}
	exts := []webrtc.RTPHeaderExtensionParameter{{URI: "urn:ietf:params:rtp-hdrext:sdes:mid", ID: 4}, {URI: sdp.AudioLevelURI, ID: 5}}
	for i, w := range []*levelWriter{relayed, plain} {
		d := newDownTrack(up, up.metrics)
		if w == relayed {
			d.relayLayer = 0
		}
		if _, err := d.Bind(&fakeContext{ssrc: webrtc.SSRC(100 + i), codecs: []webrtc.RTPCodecParameters{opus}, exts: exts, w: w}); err != nil {
			t.Fatal(err)
		}
		up.addDownTrack(d)
	}
	p := pionrtp.Packet{Header: *audioHeader(t, 1, 20, true), Payload: make([]byte, 60)}
	p.SSRC, p.PayloadType = 5678, 111
	pkt, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var in inPacket
	seq := uint16(0)
	send := func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:4], seq)
		binary.BigEndian.PutUint32(pkt[4:8], uint32(seq)*960)
		up.forward(l, pkt, &in, false)
	}
	send()
	if relayed.packets != 1 || relayed.missing != 0 || relayed.level != 0x80|20 {
		t.Fatalf("relay DownTrack wrote %+v, want one packet with level 20 and the V flag", relayed)
	}
	if plain.packets != 1 || plain.missing != 1 {
		t.Fatalf("subscriber DownTrack wrote %+v, want one packet without a level", plain)
	}
	if allocs := testing.AllocsPerRun(1000, send); allocs != 0 {
		t.Fatalf("forwarding one audio packet with its level allocates %v times", allocs)
	}
	if relayed.missing != 0 {
		t.Fatalf("%d packets relayed without their level", relayed.missing)
	}
}
