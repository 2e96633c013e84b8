package sfu

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeContext is what pion hands a TrackLocal in Bind.
type fakeContext struct {
	ssrc   webrtc.SSRC
	codecs []webrtc.RTPCodecParameters
	exts   []webrtc.RTPHeaderExtensionParameter
	w      webrtc.TrackLocalWriter
}

func (c *fakeContext) CodecParameters() []webrtc.RTPCodecParameters           { return c.codecs }
func (c *fakeContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return c.exts }
func (c *fakeContext) SSRC() webrtc.SSRC                                      { return c.ssrc }
func (c *fakeContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c *fakeContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c *fakeContext) WriteStream() webrtc.TrackLocalWriter                   { return c.w }
func (c *fakeContext) ID() string                                             { return "ctx" }
func (c *fakeContext) RTCPReader() interceptor.RTCPReader                     { return nil }

// discard counts what is written, keeping the last header.
type discard struct {
	mu      sync.Mutex
	packets int
	last    pionrtp.Header
	seqs    []uint16
	keep    bool
}

func (d *discard) WriteRTP(h *pionrtp.Header, payload []byte) (int, error) {
	d.mu.Lock()
	d.packets++
	if d.keep {
		d.last = *h
		d.seqs = append(d.seqs, h.SequenceNumber)
	}
	d.mu.Unlock()
	return len(payload), nil
}

func (d *discard) Write(b []byte) (int, error) { return len(b), nil }

var vp8 = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}

// testUpTrack is a video UpTrack with one layer (ssrc 1234), returned with it.
func testUpTrack(plis *int) (*UpTrack, *layer) {
	u := newUpTrack(upTrackParams{
		id: "TR_test", publisherID: "PA_pub", kind: webrtc.RTPCodecTypeVideo, codec: vp8,
		cacheSize: 1024, keyframeEvery: 500 * time.Millisecond,
		sendPLI: func(uint32) {
			if plis != nil {
				*plis++
			}
		},
		now: time.Now, metrics: NewMetrics(nil),
	})
	l, _ := u.addLayer(0, "", 1234)
	return u, l
}

func bindDownTrack(t testing.TB, up *UpTrack, ssrc uint32, pt uint8, w webrtc.TrackLocalWriter) *DownTrack {
	d := newDownTrack(up, up.metrics)
	codec := vp8
	codec.PayloadType = webrtc.PayloadType(pt)
	if _, err := d.Bind(&fakeContext{ssrc: webrtc.SSRC(ssrc), codecs: []webrtc.RTPCodecParameters{codec}, w: w}); err != nil {
		t.Fatal(err)
	}
	if !up.addDownTrack(d) {
		t.Fatal("up track closed")
	}
	return d
}

// vp8Packet builds a raw VP8 RTP packet: a payload descriptor with the
// start bit, then a frame header whose low bit says key (0) or delta (1).
func vp8Packet(seq uint16, ts uint32, key bool, size int) []byte {
	p := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 100, SequenceNumber: seq, Timestamp: ts, SSRC: 1234, Marker: true}}
	p.Payload = make([]byte, size)
	p.Payload[0] = 0x10 // S bit, partition 0
	if !key {
		p.Payload[1] = 0x01
	}
	b, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

func TestDownTrackWaitsForKeyframeAndRewrites(t *testing.T) {
	plis := 0
	up, l := testUpTrack(&plis)
	w := &discard{keep: true}
	bindDownTrack(t, up, 777, 120, w)
	if plis != 1 {
		t.Fatalf("Bind sent %d keyframe requests, want 1", plis)
	}
	var hdr inPacket
	up.forward(l, vp8Packet(10, 9000, false, 100), &hdr, false)
	if w.packets != 0 {
		t.Fatal("a delta frame was forwarded before any keyframe")
	}
	for i, key := range []bool{true, false, false} {
		up.forward(l, vp8Packet(uint16(11+i), 9000+uint32(i)*3000, key, 100), &hdr, false)
	}
	if w.packets != 3 {
		t.Fatalf("forwarded %d packets, want 3", w.packets)
	}
	if w.last.SSRC != 777 || w.last.PayloadType != 120 {
		t.Errorf("header not rewritten: ssrc %d pt %d", w.last.SSRC, w.last.PayloadType)
	}
	if w.seqs[1] != w.seqs[0]+1 || w.seqs[2] != w.seqs[0]+2 {
		t.Errorf("outgoing sequence not continuous: %v", w.seqs)
	}
	// A repeat of a forwarded packet (an RTX retransmission) is dropped.
	up.forward(l, vp8Packet(12, 12000, false, 100), &hdr, true)
	if w.packets != 3 {
		t.Errorf("duplicate forwarded: %d packets", w.packets)
	}
}

func TestDownTrackAnswersNACKFromCache(t *testing.T) {
	up, l := testUpTrack(nil)
	w := &discard{keep: true}
	d := bindDownTrack(t, up, 777, 96, w)
	var hdr inPacket
	for i := 0; i < 5; i++ {
		up.forward(l, vp8Packet(uint16(65533+i), uint32(i)*3000, i == 0, 100), &hdr, false) // wraps 65535 -> 0
	}
	lost := w.seqs[3]
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: lost}}}})
	if w.packets != 6 || w.last.SequenceNumber != lost || w.last.SSRC != 777 {
		t.Fatalf("NACK for %d answered with %d packets, last seq %d ssrc %d", lost, w.packets, w.last.SequenceNumber, w.last.SSRC)
	}
	// A NACK for something never sent is a miss, not a panic.
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: lost + 1000}}}})
	if w.packets != 6 {
		t.Fatalf("NACK for an unsent packet produced a packet")
	}
}

// BenchmarkForward measures the hot path: one packet from a publisher,
// cached, fanned out to N DownTracks, each rewriting the header and
// writing to a writer that discards it.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			up, l := testUpTrack(nil)
			w := &discard{}
			for i := 0; i < n; i++ {
				bindDownTrack(b, up, uint32(1000+i), 96, w)
			}
			pkt := vp8Packet(0, 0, true, 1100)
			var hdr inPacket
			up.forward(l, pkt, &hdr, false)
			pkt[12+1] = 0x01 // delta frames from now on
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				binary.BigEndian.PutUint16(pkt[2:4], uint16(i))
				binary.BigEndian.PutUint32(pkt[4:8], uint32(i/3)*3000)
				up.forward(l, pkt, &hdr, false)
			}
			b.StopTimer()
			if w.packets != (b.N+1)*n {
				b.Fatalf("wrote %d packets, want %d", w.packets, (b.N+1)*n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet-out")
		})
	}
}

func TestForwardDoesNotAllocate(t *testing.T) {
	up, l := testUpTrack(nil)
	for i := 0; i < 10; i++ {
		bindDownTrack(t, up, uint32(1000+i), 96, &discard{})
	}
	pkt := vp8Packet(0, 0, true, 1100)
	var hdr inPacket
	up.forward(l, pkt, &hdr, false)
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:4], seq)
		up.forward(l, pkt, &hdr, false)
	})
	if allocs != 0 {
		t.Fatalf("forwarding one packet to 10 subscribers allocates %v times", allocs)
	}
}

// TestKeyframeRequestsThrottled sends PLIs from several subscribers: the
// publisher is asked at most once per interval.
func TestKeyframeRequestsThrottled(t *testing.T) {
	now := time.Unix(1000, 0)
	plis := 0
	up, _ := testUpTrack(&plis)
	up.now = func() time.Time { return now }
	var downs []*DownTrack
	for i := 0; i < 3; i++ {
		downs = append(downs, bindDownTrack(t, up, uint32(10+i), 96, &discard{}))
	}
	if plis != 1 {
		t.Fatalf("three subscriptions at once asked %d times, want 1", plis)
	}
	now = now.Add(time.Second)
	plis = 0
	for _, d := range downs {
		d.handleRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 10}, &rtcp.FullIntraRequest{}})
	}
	if plis != 1 {
		t.Fatalf("%d keyframe requests within one interval, want 1", plis)
	}
	now = now.Add(499 * time.Millisecond)
	downs[0].handleRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{}})
	if plis != 1 {
		t.Fatalf("request after 499 ms was not throttled")
	}
	now = now.Add(2 * time.Millisecond)
	downs[0].handleRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{}})
	if plis != 2 {
		t.Fatalf("request after 501 ms was throttled")
	}
}
