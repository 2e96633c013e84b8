package loadtest

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/packetio"
)

// TestStreamBufferAttach: packets written before the handler is attached
// are read as from pion's own buffer or handed to the handler when it is
// attached, in order; those written after go straight to the handler, on
// the writer's goroutine; reads then wait for the close.
func TestStreamBufferAttach(t *testing.T) {
	bufs := newStreamBuffers()
	if rtcp := bufs.factory(packetio.RTCPBufferPacket, 7); rtcp == nil || bufs.take(7) != nil {
		t.Fatal("an RTCP buffer must be pion's own, not offered to the receiver")
	}
	w := bufs.factory(packetio.RTPBufferPacket, 42)
	b := bufs.take(42)
	if b == nil || bufs.take(42) != nil {
		t.Fatal("the RTP buffer of SSRC 42 must be taken once")
	}

	// The first packet is read the ordinary way (pion peeks it).
	if _, err := w.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, receiveMTU)
	if n, err := w.Read(got); err != nil || n != 1 || got[0] != 0 {
		t.Fatalf("read before attach: %d %v %v", n, err, got[:n])
	}

	// The writer keeps writing while the handler is attached.
	var mu sync.Mutex
	var seen []byte
	const total = 200
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for i := 1; i < total; i++ {
			if _, err := w.Write([]byte{byte(i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	time.Sleep(time.Millisecond)
	b.attach(func(p []byte) {
		mu.Lock()
		seen = append(seen, p[0])
		mu.Unlock()
	})
	<-wrote
	mu.Lock()
	if len(seen) != total-1 {
		t.Fatalf("handled %d packets, want %d", len(seen), total-1)
	}
	for i, v := range seen {
		if int(v) != i+1 {
			t.Fatalf("packet %d handled as %d-th: out of order (%v)", v, i+1, seen)
		}
	}
	mu.Unlock()

	read := make(chan error, 1)
	go func() {
		_, err := w.Read(got)
		read <- err
	}()
	select {
	case err := <-read:
		t.Fatalf("a read after attach returned (%v) before the close", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-read; !errors.Is(err, io.EOF) {
		t.Fatalf("read after close: %v, want io.EOF", err)
	}
}
