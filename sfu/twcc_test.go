package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// BenchmarkTWCCRecord is the interceptor's work per packet sent to a
// subscriber: finding the transport-wide sequence number and recording
// the packet in the sent ring, with the time of the write (a socket that
// sends at once) or the batch it went into (the batching media socket).
func BenchmarkTWCCRecord(b *testing.B) {
	for _, c := range []struct {
		name    string
		flushes *flushClock
	}{{"written", nil}, {"batched", newFlushClock(time.Now)}} {
		b.Run(c.name, func(b *testing.B) {
			f := newBWEFactory(time.Now, c.flushes)
			i, _ := f.NewInterceptor("")
			w := i.(*bweInterceptor).BindLocalStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 5}}},
				interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
			h := &rtp.Header{Version: 2, SSRC: 1}
			_ = h.SetExtension(5, []byte{0, 0})
			ext := h.GetExtension(5)
			payload := make([]byte, 1100)
			seq := uint16(0)
			b.ReportAllocs()
			for b.Loop() {
				seq++
				binary.BigEndian.PutUint16(ext, seq)
				if _, err := w.Write(h, payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFlushClock: a generation's departure is known once it was flushed,
// and forgotten when the ring comes round to it again.
func TestFlushClock(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newFlushClock(func() time.Time { return now })
	if _, ok := f.departure(0); ok {
		t.Fatal("a departure before any flush")
	}
	g := f.start()
	now = now.Add(3 * time.Millisecond)
	f.flushed(g)
	if at, ok := f.departure(g); !ok || !at.Equal(now) {
		t.Fatalf("departure of %d: %v %v, want %v", g, at, ok, now)
	}
	if _, ok := f.departure(g + 1); ok {
		t.Fatal("a departure for a batch not sent")
	}
	f.flushed(g + flushRing)
	if _, ok := f.departure(g); ok {
		t.Fatal("a departure still remembered after the ring came round")
	}
}
