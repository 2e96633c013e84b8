package sfu

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// packetsInput builds fuzz input for forwardPackets: each packet a length
// byte, then the packet.
func packetsInput(pkts ...[]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = append(b, byte(len(p)))
		b = append(b, p...)
	}
	return b
}

// withDescriptor gives a vp8Packet the descriptor browsers send: X, a
// 15-bit picture ID, TL0PICIDX and TID.
func withDescriptor(pkt []byte, pic uint16, tl0 uint8) []byte {
	out := append([]byte{}, pkt[:12]...)
	out = append(out, 0x90, 0xe0, 0x80|byte(pic>>8), byte(pic), tl0, 0x20)
	return append(out, pkt[13:]...)
}

// forwardPackets forwards each packet of a fuzz input on l and checks what
// reached w, the DownTrack's writer: the subscriber's SSRC and payload
// type, no header extension, CSRC or padding; the payload as pion parses
// it, unchanged (one source: nothing to renumber); sequence numbers and
// timestamps moved by one offset each, and no sequence number twice while
// the publisher's numbers stay orderly; and,
// for video, a keyframe first. It returns how many packets pion parses
// with a payload: at most these may be taken in.
func forwardPackets(t *testing.T, up *UpTrack, l *layer, w *keptPackets, data []byte) (valid int) {
	var hdr inPacket
	var seqOffset uint16
	var tsOffset uint32
	seen := map[uint16]bool{}
	// wild is set once a packet comes over 1,000 behind the newest (past
	// the packet cache's window, which tells a repeat from a new packet)
	// or the numbers jump by a quarter of their space (after a wrap one
	// number stands for two packets): from there a number may go out twice.
	var newest uint16
	started, wild := false, false
	for n := 0; len(data) > 0 && n < 64; n++ {
		size := min(int(data[0]), len(data)-1)
		pkt := data[1 : 1+size]
		data = data[1+size:]
		if len(pkt) >= 12 && pkt[0]>>6 == 2 {
			seq := binary.BigEndian.Uint16(pkt[2:])
			d := int16(seq - newest)
			switch {
			case !started:
				newest, started = seq, true
			case d > 1<<14 || d < -1000:
				wild = true
			case d > 0:
				newest = seq
			}
		}
		var in pionrtp.Packet
		parsed := in.Unmarshal(pkt)
		if parsed == nil && len(in.Payload) > 0 {
			valid++
		}
		before := len(w.hdrs)
		up.forward(l, pkt, &hdr, false)
		if len(w.hdrs) == before {
			continue
		}
		if len(w.hdrs) != before+1 {
			t.Fatalf("packet %d: %d packets out for one", n, len(w.hdrs)-before)
		}
		if parsed != nil {
			t.Fatalf("packet %d: forwarded % x, which pion does not parse: %v", n, pkt, parsed)
		}
		out, payload := w.hdrs[before], w.payloads[before]
		if out.SSRC != 777 || out.PayloadType != 96 || out.Version != 2 || out.Padding || out.Extension ||
			len(out.CSRC) != 0 || out.Marker != in.Marker {
			t.Fatalf("packet %d: header %+v", n, out)
		}
		if !bytes.Equal(payload, in.Payload) {
			t.Fatalf("packet %d: payload % x went out as % x", n, in.Payload, payload)
		}
		if before == 0 {
			if up.kind == webrtc.RTPCodecTypeVideo && !rtp.IsKeyframe(up.rcodec, in.Payload) {
				t.Fatalf("packet %d: the first packet out is not a keyframe: % x", n, in.Payload)
			}
			seqOffset, tsOffset = out.SequenceNumber-in.SequenceNumber, out.Timestamp-in.Timestamp
		}
		if out.SequenceNumber-in.SequenceNumber != seqOffset || out.Timestamp-in.Timestamp != tsOffset {
			t.Fatalf("packet %d: seq %d ts %d went out as %d %d; offsets were %d %d", n, in.SequenceNumber, in.Timestamp,
				out.SequenceNumber, out.Timestamp, seqOffset, tsOffset)
		}
		if seen[out.SequenceNumber] && !wild {
			t.Fatalf("packet %d: sequence number %d went out twice", n, out.SequenceNumber)
		}
		seen[out.SequenceNumber] = true
	}
	return valid
}

// FuzzForward sends arbitrary RTP packets from a VP8 publisher through
// the forwarding path (packet cache, header parse, keyframe detection,
// rewriter, VP8 descriptor rewriting) to one subscriber; see
// forwardPackets for what it checks.
func FuzzForward(f *testing.F) {
	key, delta := vp8Packet(100, 9000, true, 40), vp8Packet(101, 12000, false, 40)
	f.Add(packetsInput(key, delta, vp8Packet(102, 15000, false, 40), delta))
	f.Add(packetsInput(delta, withDescriptor(key, 0x7ff0, 200), withDescriptor(delta, 0x7ff1, 201)))
	padded := append([]byte{}, vp8Packet(103, 15000, false, 40)...)
	padded[0] |= 0x20
	padded[len(padded)-1] = 4 // the last 4 bytes are padding
	f.Add(packetsInput(key, padded, vp8Packet(65535, 9000, true, 20), vp8Packet(0, 9000, false, 20)))
	probe := append(vp8Packet(104, 15000, false, 2)[:12], make([]byte, 255-12)...)
	probe[0] |= 0x20
	probe[len(probe)-1] = 255 - 12 // padding only: a bandwidth probe
	f.Add(packetsInput(key, probe, delta))
	withExt := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 7, Timestamp: 1, SSRC: 1234, CSRC: []uint32{5}}, Payload: key[12:]}
	_ = withExt.SetExtension(3, []byte{1, 2, 3})
	b, _ := withExt.Marshal()
	f.Add(packetsInput(b, key))
	f.Fuzz(func(t *testing.T, data []byte) {
		up, l := testUpTrack(nil)
		w := &keptPackets{}
		bindDownTrack(t, up, 777, 96, w)
		forwardPackets(t, up, l, w, data)
	})
}

// FuzzAudioForward sends arbitrary RTP packets from an Opus publisher that
// negotiated the audio level extension (id 1): forwardPackets's checks,
// and active speaker detection counts only packets pion parses with a
// payload (forwarded to this subscriber or not), with levels in range.
func FuzzAudioForward(f *testing.F) {
	opusPacket := func(seq uint16, level byte, voice bool) []byte {
		h := pionrtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 5678}
		if voice {
			level |= 0x80
		}
		_ = h.SetExtension(1, []byte{level})
		b, _ := (&pionrtp.Packet{Header: h, Payload: []byte{0xfc, 0xff, 0xfe}}).Marshal()
		return b
	}
	f.Add(packetsInput(opusPacket(1, 30, true), opusPacket(2, 127, false), opusPacket(4, 0, true), opusPacket(3, 55, false)))
	f.Add(packetsInput(opusPacket(65535, 10, true), opusPacket(0, 10, true), opusPacket(65535, 10, true)))
	f.Fuzz(func(t *testing.T, data []byte) {
		up := newUpTrack(upTrackParams{
			id: "TR_audio", publisherID: "PA_pub", kind: webrtc.RTPCodecTypeAudio, codec: opus,
			cacheSize: 128, keyframeEvery: time.Second, sendPLI: func(uint32) {},
			now: time.Now, metrics: NewMetrics(nil),
		})
		up.setAudioLevelExt([]webrtc.RTPHeaderExtensionParameter{{URI: sdp.AudioLevelURI, ID: 1}})
		l, _ := up.addLayer(0, "", 5678)
		w := &keptPackets{}
		d := newDownTrack(up, up.metrics)
		codec := opus
		codec.PayloadType = 96
		if _, err := d.Bind(&fakeContext{ssrc: 777, codecs: []webrtc.RTPCodecParameters{codec}, w: w}); err != nil {
			t.Fatal(err)
		}
		up.addDownTrack(d)
		valid := forwardPackets(t, up, l, w, data)
		s := up.levels.take()
		if int(s.packets) > valid || s.voiced > s.packets || s.loudness > 127*s.voiced {
			t.Fatalf("levels %+v after %d valid packets", s, valid)
		}
	})
}
