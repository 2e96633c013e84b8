package sfu

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"go.uber.org/goleak"
)

// testBatch is the batch size in tests: small, so that they cover several
// batches without overflowing a receiving socket's buffer.
const testBatch = 16

// loopbackPair returns a batchConn and a plain socket to send to, both on
// 127.0.0.1.
func loopbackPair(t *testing.T) (*batchConn, *net.UDPConn) {
	return loopbackPairSized(t, testBatch)
}

// loopbackPairSized is loopbackPair with batches of size packets.
func loopbackPairSized(t *testing.T, size int) (*batchConn, *net.UDPConn) {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	bc, err := newBatchConn(listen(), size, batchInterval, time.Now, logging.NewDefaultLoggerFactory().NewLogger("test"))
	if err != nil {
		t.Fatal(err)
	}
	peer := listen()
	_ = peer.SetReadBuffer(4 << 20)
	t.Cleanup(func() {
		_ = bc.Close()
		_ = peer.Close()
	})
	return bc, peer
}

// packet returns the i-th test packet to dest d, n bytes long.
func packet(d, i, n int) []byte {
	p := bytes.Repeat([]byte{byte(i)}, n)
	copy(p, fmt.Sprintf("%d/%d/", d, i))
	return p
}

// received is what receiveAsync read.
type received struct {
	pkts [][]byte
	err  error
}

// receiveAsync reads n packets from c, giving up after timeout.
func receiveAsync(c *net.UDPConn, n int, timeout time.Duration) <-chan received {
	done := make(chan received, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		var r received
		buf := make([]byte, 2048)
		for len(r.pkts) < n {
			k, err := c.Read(buf)
			if err != nil {
				r.err = fmt.Errorf("received %d of %d packets: %w", len(r.pkts), n, err)
				break
			}
			r.pkts = append(r.pkts, bytes.Clone(buf[:k]))
		}
		done <- r
	}()
	return done
}

// receive reads n packets from c, failing the test after timeout.
func receive(t *testing.T, c *net.UDPConn, n int, timeout time.Duration) [][]byte {
	t.Helper()
	return wait(t, receiveAsync(c, n, timeout))
}

// wait returns what receiveAsync read, failing the test if it failed.
func wait(t *testing.T, done <-chan received) [][]byte {
	t.Helper()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.pkts
}

func TestBatchConnDeliversInOrder(t *testing.T) {
	// Small batches: many of them, sent as they fill. Large ones: sent
	// by the interval, in several system calls each.
	for _, size := range []int{testBatch, 4 * sendChunk} {
		for _, gso := range []bool{true, false} {
			t.Run(fmt.Sprintf("%d/gso=%v", size, gso), func(t *testing.T) { testDeliversInOrder(t, size, gso) })
		}
	}
}

func testDeliversInOrder(t *testing.T, size int, gso bool) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered: runs after the other cleanups
	bc, peer := loopbackPairSized(t, size)
	bc.sender.gso = bc.sender.gso && gso // before the first write: the flusher reads it after
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()

	// Sizes as a forwarded video frame has them (equal, then a short
	// last packet) and audio in between: with GSO some of these leave as
	// one message, and must arrive as the same separate packets.
	sizes := []int{1100, 1100, 1100, 400, 80, 1100, 1100, 80, 200, 1100}
	const rounds = 10 // several batches
	done := receiveAsync(peer, rounds*len(sizes), 10*time.Second)
	var want [][]byte
	for r := range rounds {
		for i, n := range sizes {
			p := packet(0, r*len(sizes)+i, n)
			want = append(want, p)
			if k, err := bc.WriteToAddrPort(p, to); err != nil || k != n {
				t.Fatalf("write: %d, %v", k, err)
			}
		}
	}
	got := wait(t, done)
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d: got %d bytes %q..., want %d bytes %q...", i, len(got[i]), got[i][:8], len(want[i]), want[i][:8])
		}
	}
}

func TestBatchConnFlushesPartialBatch(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered: runs after the other cleanups
	bc, peer := loopbackPair(t)
	// One packet never fills a batch: only the interval sends it.
	if _, err := bc.WriteTo([]byte("alone"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, peer, 1, 5*time.Second); string(got[0]) != "alone" {
		t.Fatalf("got %q", got[0])
	}
	// And again, after the flusher went idle.
	if _, err := bc.WriteTo([]byte("again"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, peer, 1, 5*time.Second); string(got[0]) != "again" {
		t.Fatalf("got %q", got[0])
	}
}

func TestBatchConnCloseFlushesAndStops(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered: runs after the other cleanups
	bc, peer := loopbackPair(t)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	const n = 3*testBatch + testBatch/2 // full batches and a partial one
	for i := range n {
		if _, err := bc.WriteToAddrPort(packet(0, i, 100), to); err != nil {
			t.Fatal(err)
		}
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bc.flusherDone:
	default:
		t.Fatal("flusher still running after Close")
	}
	if got := receive(t, peer, n, 5*time.Second); len(got) != n {
		t.Fatalf("got %d packets", len(got))
	}
	if _, err := bc.WriteToAddrPort([]byte("late"), to); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	if err := bc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestBatchConnConcurrentWriters(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered: runs after the other cleanups
	bc, _ := loopbackPair(t)
	// One socket per destination, as subscribers are.
	const dests, writers, each = 8, 4, 100
	peers := make([]*net.UDPConn, dests)
	results := make([]<-chan received, dests)
	for d := range peers {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadBuffer(4 << 20)
		defer c.Close()
		peers[d] = c
		results[d] = receiveAsync(c, writers*each, 10*time.Second)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				for d, c := range peers {
					p := packet(d, w*each+i, 300+w)
					if _, err := bc.WriteToAddrPort(p, c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for d := range peers {
		got := wait(t, results[d])
		// Each writer's packets to one destination arrive in its order.
		next := make([]int, writers)
		for _, p := range got {
			var dd, i int
			if _, err := fmt.Sscanf(string(p), "%d/%d/", &dd, &i); err != nil || dd != d {
				t.Fatalf("destination %d got %q", d, p[:10])
			}
			w := len(p) - 300
			if i != w*each+next[w] {
				t.Fatalf("destination %d, writer %d: got packet %d, want %d", d, w, i, w*each+next[w])
			}
			next[w]++
		}
	}
}

func TestBatchConnReads(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered: runs after the other cleanups
	bc, peer := loopbackPair(t)
	if _, err := peer.WriteTo([]byte("hello"), bc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, from, err := bc.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "hello" || from != peer.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("ReadFromAddrPort: %q from %v, %v", buf[:n], from, err)
	}
	if _, err := peer.WriteTo([]byte("again"), bc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	n, addr, err := bc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "again" || addr.String() != peer.LocalAddr().String() {
		t.Fatalf("ReadFrom: %q from %v, %v", buf[:n], addr, err)
	}

	// A deadline ends a read, as does Close.
	_ = bc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	var ne net.Error
	if _, _, err := bc.ReadFromAddrPort(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = bc.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() {
		_, _, err := bc.ReadFromAddrPort(buf)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	_ = bc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a read")
	}
}

func TestSendBatchPack(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	b := netip.MustParseAddrPort("127.0.0.1:2000")
	type pkt struct {
		to   netip.AddrPort
		size int
	}
	tests := []struct {
		name string
		in   []pkt
		want [][]int // per message, the indexes of its packets
	}{
		{"one", []pkt{{a, 100}}, [][]int{{0}}},
		{"fan-out of a frame", []pkt{{a, 1200}, {b, 1200}, {a, 1200}, {b, 1200}, {a, 500}, {b, 500}},
			[][]int{{0, 2, 4}, {1, 3, 5}}},
		{"short packet ends a message", []pkt{{a, 1200}, {a, 80}, {a, 1200}}, [][]int{{0, 1}, {2}}},
		{"longer packet starts a new one", []pkt{{a, 80}, {b, 80}, {a, 1200}, {a, 1200}}, [][]int{{0}, {1}, {2, 3}}},
		{"equal sizes", []pkt{{a, 80}, {a, 80}, {a, 80}}, [][]int{{0, 1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := newSendBatch(len(tt.in))
			for i, p := range tt.in {
				buf := bytes.Repeat([]byte{byte(i)}, p.size)
				bt.add(buf, p.to)
			}
			got := packed(bt, true)
			for k, idx := range got {
				if len(idx) > 1 && bt.hs[k].hdr.Controllen == 0 {
					t.Errorf("message of %d packets without a segment size", len(idx))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if plain := bt.pack(false); plain != len(tt.in) {
				t.Errorf("without GSO: %d messages, want %d", plain, len(tt.in))
			}
		})
	}
}

func TestSendBatchPackLimits(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	bt := newSendBatch(2*gsoMaxSegments + 1)
	p := make([]byte, 1200)
	for range 2*gsoMaxSegments + 1 {
		bt.add(p, a)
	}
	for _, idx := range packed(bt, true) {
		if len(idx) > gsoMaxSegments || len(idx)*1200 > gsoMaxBytes {
			t.Fatalf("a message of %d segments of 1200 bytes", len(idx))
		}
	}
}

// packed packs b and returns, per message, the indexes of its packets.
func packed(b *sendBatch, gso bool) [][]int {
	var msgs [][]int
	for k := range b.pack(gso) {
		var idx []int
		for _, i := range b.order[b.start[k]:b.start[k+1]] {
			idx = append(idx, int(i))
		}
		msgs = append(msgs, idx)
	}
	return msgs
}

// BenchmarkBatchConnWrite is the cost of queueing a packet, and of sending
// it, shared by the writers' and the flusher's goroutines.
func BenchmarkBatchConnWrite(b *testing.B) {
	for _, size := range []int{100, 1200} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			bc, err := newBatchConn(c, batchSize, batchInterval, time.Now, logging.NewDefaultLoggerFactory().NewLogger("bench"))
			if err != nil {
				b.Fatal(err)
			}
			defer bc.Close()
			// A port nobody listens on: the kernel drops what arrives.
			sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
			_ = sink.Close()
			p := make([]byte, size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.WriteToAddrPort(p, to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
