package sfu

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// TestTWCCDepartureIsTheFlush writes packets through the interceptor into
// a batching socket, as pion's SRTP and ICE do: the feedback must see
// them sent when their batch went to the kernel, not when they were
// written, and a packet of a later batch with that batch's departure.
func TestTWCCDepartureIsTheFlush(t *testing.T) {
	// Every reading of the clock moves it on by a millisecond, so that
	// each reading can be told apart.
	var mu sync.Mutex
	clock := time.Unix(1000, 0)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := clock
		clock = clock.Add(time.Millisecond)
		return t
	}
	set := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// Batches of 4 and no ticks to speak of: they go at Close.
	bc, err := newBatchConn(c, 4, time.Hour, now, logging.NewDefaultLoggerFactory().NewLogger("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bc.Close() })
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()

	f := newBWEFactory(now, bc.flushes)
	i, _ := f.NewInterceptor("")
	b := i.(*bweInterceptor)
	w := b.BindLocalStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 5}}},
		interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
			p, err := (&rtp.Packet{Header: *h, Payload: payload}).Marshal()
			if err != nil {
				return 0, err
			}
			return bc.WriteToAddrPort(p, to)
		}))
	send := func(seq uint16) {
		h := &rtp.Header{Version: 2, SSRC: 1, SequenceNumber: seq}
		_ = h.SetExtension(5, []byte{byte(seq >> 8), byte(seq)})
		if _, err := w.Write(h, make([]byte, 100), nil); err != nil {
			t.Fatal(err)
		}
	}

	written := time.Unix(2000, 0)
	set(written)
	for seq := uint16(100); seq < 105; seq++ {
		send(seq) // 100-103 fill the first batch, 104 starts the second
	}
	flushed := written.Add(7 * time.Millisecond) // the server was busy
	set(flushed)
	if err := bc.Close(); err != nil { // sends both batches, in order
		t.Fatal(err)
	}
	receive(t, peer, 5, 2*time.Second)

	b.onFeedback(&rtcp.TransportLayerCC{
		BaseSequenceNumber: 100, PacketStatusCount: 5, ReferenceTime: 1,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 5}},
		RecvDeltas: []*rtcp.RecvDelta{
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000}, {Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 0},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 0}, {Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 0},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 5000},
		},
	})
	if len(b.acks) != 5 {
		t.Fatalf("%d acks, want 5", len(b.acks))
	}
	for k, a := range b.acks {
		want := flushed
		if k == 4 {
			want = flushed.Add(time.Millisecond) // the second reading
		}
		if !a.sent.Equal(want) {
			t.Errorf("packet %d sent at %v, want %v (written at %v)", 100+k, a.sent.Sub(written), want.Sub(written), written)
		}
	}
}
