package sfu

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// marshalRTCP is rtcp.Marshal for seeds.
func marshalRTCP(f *testing.F, pkts ...rtcp.Packet) []byte {
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// keptPackets records every packet written, header and payload.
type keptPackets struct {
	discard
	hdrs     []pionrtp.Header
	payloads [][]byte
}

func (k *keptPackets) WriteRTP(h *pionrtp.Header, payload []byte) (int, error) {
	k.hdrs = append(k.hdrs, *h)
	k.payloads = append(k.payloads, append([]byte(nil), payload...))
	return k.discard.WriteRTP(h, payload)
}

// twccFeedback is a transport-wide feedback report on packets base to
// base+len(symbols)-1, 1 ms apart.
func twccFeedback(base uint16, symbols ...uint16) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{SenderSSRC: 1, MediaSSRC: 777, BaseSequenceNumber: base,
		PacketStatusCount: uint16(len(symbols)), ReferenceTime: 16, FbPktCount: 3}
	for len(symbols) > 0 {
		n := min(len(symbols), 7)
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: symbols[:n]})
		for _, s := range symbols[:n] {
			if s != rtcp.TypeTCCPacketNotReceived {
				fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: s, Delta: 1000})
			}
		}
		symbols = symbols[n:]
	}
	return fb
}

// FuzzTWCCFeedback feeds arbitrary RTCP to a subscriber connection's
// bandwidth interceptor, as pion reads it from the network, after 300
// packets went out: whatever the feedback says, the estimate stays a
// finite rate within the estimator's bounds, and the RTCP is passed on
// unchanged.
func FuzzTWCCFeedback(f *testing.F) {
	rx, lost := uint16(rtcp.TypeTCCPacketReceivedSmallDelta), uint16(rtcp.TypeTCCPacketNotReceived)
	f.Add(marshalRTCP(f, twccFeedback(100, rx, rx, lost, rx, rx, rx, rx, rx, rx, rx)))
	f.Add(marshalRTCP(f, &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 777, FractionLost: 12, TotalLost: 40, LastSequenceNumber: 300, Jitter: 90}}},
		twccFeedback(250, lost, lost, lost, rx, rx, rx, lost)))
	f.Add(marshalRTCP(f, &rtcp.TransportLayerCC{SenderSSRC: 1, MediaSSRC: 777, BaseSequenceNumber: 0, PacketStatusCount: 200, ReferenceTime: 1,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedLargeDelta, RunLength: 200}},
		RecvDeltas: func() (d []*rtcp.RecvDelta) {
			for range 200 {
				d = append(d, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: 100_000})
			}
			return d
		}()}))
	f.Add(marshalRTCP(f, &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: 750_000, SSRCs: []uint32{777}}))
	// The largest REMB the wire can carry, 2^80 bit/s and more.
	f.Add(marshalRTCP(f, &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: 1 << 62 * float32(1<<18), SSRCs: []uint32{777}}))
	f.Add([]byte{0x8f, 0xcd, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 3, 9, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}) // truncated TWCC
	f.Fuzz(func(t *testing.T, data []byte) {
		now := time.Unix(1000, 0)
		b := &bweInterceptor{est: NewBandwidthEstimator(), now: func() time.Time { return now }, base: now}
		w := b.BindLocalStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 5}}},
			interceptor.RTPWriterFunc(func(*pionrtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
		payload := make([]byte, 1000)
		for seq := uint16(0); seq < 300; seq++ {
			h := &pionrtp.Header{Version: 2, SSRC: 777, SequenceNumber: seq}
			_ = h.SetExtension(5, []byte{byte(seq >> 8), byte(seq)})
			if _, err := w.Write(h, payload, nil); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Millisecond)
		}
		r := b.BindRTCPReader(interceptor.RTCPReaderFunc(func(buf []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(buf, data), a, nil
		}))
		buf := make([]byte, 1500)
		for range 3 {
			n, _, err := r.Read(buf, nil)
			if err != nil || !bytes.Equal(buf[:n], data[:min(len(data), len(buf))]) {
				t.Fatalf("the reader passed on %d bytes, %v", n, err)
			}
			est, _ := b.est.Estimate(now)
			b.est.mu.Lock()
			raw := b.est.estimate
			b.est.mu.Unlock()
			if math.IsNaN(raw) || raw < bweMin || raw > bweMax || est < 0 || est > bweMax {
				t.Fatalf("estimate %v (%d) outside [%d, %d]", raw, est, bweMin, bweMax)
			}
			now = now.Add(200 * time.Millisecond)
		}
	})
}

// FuzzDownTrackRTCP hands arbitrary RTCP from a subscriber to a DownTrack
// that forwarded 40 packets and 3 of probe padding: NACKs are answered
// only with packets sent before, exactly as they were sent, at most one
// per sequence number asked for; keyframe requests reach the publisher at
// most once (the throttle).
func FuzzDownTrackRTCP(f *testing.F) {
	f.Add(marshalRTCP(f, &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 777, Nacks: []rtcp.NackPair{{PacketID: 0, LostPackets: 0xffff}}}))
	f.Add(marshalRTCP(f, &rtcp.ReceiverReport{SSRC: 1}, &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 777,
		Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{3, 5, 17, 21, 22, 23, 39, 40, 41, 42, 43, 60000})}))
	f.Add(marshalRTCP(f, &rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 777}))
	f.Add(marshalRTCP(f, &rtcp.FullIntraRequest{SenderSSRC: 1, MediaSSRC: 777, FIR: []rtcp.FIREntry{{SSRC: 777, SequenceNumber: 1}}},
		&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 777}))
	f.Add(marshalRTCP(f, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "x"}}}}},
		&rtcp.Goodbye{Sources: []uint32{1}, Reason: "bye"}))
	f.Add([]byte{0x81, 0xcd, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 3, 9, 0, 0}) // a NACK cut short
	f.Fuzz(func(t *testing.T, data []byte) {
		pkts, err := rtcp.Unmarshal(data)
		if err != nil {
			return // pion drops what it cannot parse before handleRTCP sees it
		}
		plis := 0
		up, l := testUpTrack(&plis)
		now := time.Unix(1000, 0)
		up.now = func() time.Time { return now }
		w := &keptPackets{}
		d := bindDownTrack(t, up, 777, 96, w)
		var hdr inPacket
		for i := range 40 {
			// Frames of four packets; a keyframe first.
			b := framePacket(uint16(65500+i), uint32(i/4)*3000, i < 4, i%4 == 3)
			b[12+1] = byte(i) // payloads differ
			if i >= 4 {
				b[12+1] |= 0x01
			}
			up.forward(l, b, &hdr, false)
			if i == 19 {
				d.writePadding(3)
			}
		}
		sent := make(map[uint16][]byte, len(w.hdrs))
		for i, h := range w.hdrs {
			sent[h.SequenceNumber] = w.payloads[i]
		}
		if len(sent) != 43 {
			t.Fatalf("set-up sent %d packets, want 43", len(sent))
		}
		before, plisBefore := len(w.hdrs), plis
		now = now.Add(time.Second) // past the throttle of Bind's request

		d.handleRTCP(pkts)

		asked := 0
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				for _, pair := range n.Nacks {
					pair.Range(func(uint16) bool { asked++; return true })
				}
			}
		}
		if answered := len(w.hdrs) - before; answered > asked {
			t.Fatalf("%d packets sent for %d sequence numbers asked for", answered, asked)
		}
		for i, h := range w.hdrs[before:] {
			orig, ok := sent[h.SequenceNumber]
			if !ok || h.SSRC != 777 || h.PayloadType != 96 || !bytes.Equal(w.payloads[before+i], orig) {
				t.Fatalf("retransmitted seq %d (ssrc %d, pt %d, % x), sent before: %v % x", h.SequenceNumber, h.SSRC, h.PayloadType, w.payloads[before+i], ok, orig)
			}
		}
		if plis-plisBefore > 1 {
			t.Fatalf("%d keyframe requests for one RTCP packet", plis-plisBefore)
		}
	})
}

// A REMB of 2^80 bit/s, which the wire can carry, is capped rather than
// overflowing the int64 Estimate returns (FuzzTWCCFeedback found it
// coming out negative).
func TestEstimatorREMBCapped(t *testing.T) {
	now := time.Unix(1000, 0)
	e := NewBandwidthEstimator()
	e.OnREMB(1<<62*float64(1<<18), now)
	if bps, ok := e.Estimate(now); !ok || bps != bweMax {
		t.Fatalf("Estimate = %d %v, want %d", bps, ok, bweMax)
	}
}

// A first feedback that reports every packet lost, as on a link that
// drops the first packets, lowers the estimate; it used to panic with no
// delay measured yet (FuzzTWCCFeedback found it).
func TestEstimatorFirstFeedbackAllLost(t *testing.T) {
	now := time.Unix(1000, 0)
	e := NewBandwidthEstimator()
	acks := make([]ackSample, 20)
	for i := range acks {
		acks[i] = ackSample{sent: now.Add(time.Duration(i-40) * time.Millisecond), size: 1200, lost: true}
	}
	e.OnFeedback(acks, now)
	if bps, ok := e.Estimate(now); !ok || bps >= bweInitial || bps < bweMin {
		t.Fatalf("Estimate after a feedback of losses = %d %v, want below %d", bps, ok, bweInitial)
	}
}
