package rtp

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
)

// rawPacket returns an RTP packet with sequence number seq and a payload of
// n bytes, each equal to the low byte of seq.
func rawPacket(seq uint16, n int) []byte {
	p := make([]byte, rtpHeaderSize+n)
	p[0] = 0x80 // V=2
	p[1] = 96
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*3000)
	binary.BigEndian.PutUint32(p[8:], 0x1234)
	for i := rtpHeaderSize; i < len(p); i++ {
		p[i] = byte(seq)
	}
	return p
}

func TestNewPacketCacheSize(t *testing.T) {
	tests := []struct{ size, want int }{
		{-5, 1}, {0, 1}, {1, 1}, {2, 2}, {3, 4}, {500, 512}, {512, 512}, {1 << 20, 1 << 15},
	}
	for _, tt := range tests {
		c := NewPacketCache(tt.size)
		if got := c.Len(); got != tt.want {
			t.Errorf("NewPacketCache(%d).Len() = %d, want %d", tt.size, got, tt.want)
		}
		if got := len(c.buf); got != tt.want*MaxPacketSize {
			t.Errorf("NewPacketCache(%d) backing array = %d bytes, want %d", tt.size, got, tt.want*MaxPacketSize)
		}
	}
}

func TestPacketCacheAdd(t *testing.T) {
	type add struct {
		pkt     []byte
		ext     uint64
		dup, ok bool
	}
	const base = 1 << 16
	version1 := rawPacket(3, 10)
	version1[0] = 0x40
	tests := []struct {
		name string
		size int
		adds []add
	}{
		{"short packet", 8, []add{{pkt: make([]byte, 11)}}},
		{"wrong version", 8, []add{{pkt: version1}}},
		{"header only", 8, []add{{rawPacket(7, 0), base + 7, false, true}}},
		{"duplicate", 8, []add{
			{rawPacket(10, 5), base + 10, false, true},
			{rawPacket(11, 5), base + 11, false, true},
			{rawPacket(10, 5), base + 10, true, true},
		}},
		{"duplicate across wrap", 8, []add{
			{rawPacket(65535, 5), base + 65535, false, true},
			{rawPacket(0, 5), 2 * base, false, true},
			{rawPacket(65535, 5), base + 65535, true, true},
			{rawPacket(0, 5), 2 * base, true, true},
		}},
		{"older than window is not a duplicate", 4, []add{
			{rawPacket(1, 5), base + 1, false, true},
			{rawPacket(5, 5), base + 5, false, true},
			{rawPacket(1, 5), base + 1, false, true},
			{rawPacket(1, 5), base + 1, false, true},
		}},
		{"late packet within window fills hole", 4, []add{
			{rawPacket(1, 5), base + 1, false, true},
			{rawPacket(3, 5), base + 3, false, true},
			{rawPacket(2, 5), base + 2, false, true},
			{rawPacket(2, 5), base + 2, true, true},
		}},
		{"too long is accepted but not stored", 4, []add{
			{rawPacket(1, MaxPacketSize), base + 1, false, true},
			{rawPacket(1, MaxPacketSize), base + 1, false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewPacketCache(tt.size)
			for i, a := range tt.adds {
				ext, dup, ok := c.Add(a.pkt)
				if ext != a.ext || dup != a.dup || ok != a.ok {
					t.Fatalf("Add #%d = (%d, %v, %v), want (%d, %v, %v)", i, ext, dup, ok, a.ext, a.dup, a.ok)
				}
			}
		})
	}
}

func TestPacketCacheGet(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		add     []uint16
		get     uint16
		present bool
	}{
		{"empty", 8, nil, 0, false},
		{"present", 8, []uint16{1, 2, 3}, 2, true},
		{"hole", 8, []uint16{1, 3}, 2, false},
		{"not yet received", 8, []uint16{1, 2}, 3, false},
		{"evicted by window", 4, []uint16{1, 2, 3, 4, 5}, 1, false},
		{"oldest in window", 4, []uint16{1, 2, 3, 4, 5}, 2, true},
		{"evicted by jump", 4, []uint16{1, 2, 100}, 2, false},
		{"slot reused by newer", 4, []uint16{1, 5}, 1, false},
		{"stale slot after jump", 4, []uint16{1, 2, 3, 4, 10}, 2, false},
		{"after wrap, old side", 8, []uint16{65533, 65534, 65535, 0, 1}, 65534, true},
		{"after wrap, new side", 8, []uint16{65533, 65534, 65535, 0, 1}, 0, true},
		{"after wrap, evicted", 4, []uint16{65533, 65534, 65535, 0, 1}, 65533, false},
		{"late across wrap", 8, []uint16{65535, 1, 0}, 0, true},
		{"aliased seq a full cycle back", 4, []uint16{1, 20000, 40000, 60000, 1}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewPacketCache(tt.size)
			for _, seq := range tt.add {
				c.Add(rawPacket(seq, int(seq%50)+1))
			}
			dst := make([]byte, MaxPacketSize)
			n := c.Get(tt.get, dst)
			if !tt.present {
				if n != 0 {
					t.Fatalf("Get(%d) = %d, want 0", tt.get, n)
				}
				return
			}
			want := rawPacket(tt.get, int(tt.get%50)+1)
			if !bytes.Equal(dst[:n], want) {
				t.Fatalf("Get(%d) = % x, want % x", tt.get, dst[:n], want)
			}
		})
	}
}

func TestPacketCacheGetLengths(t *testing.T) {
	c := NewPacketCache(8)
	c.Add(rawPacket(1, 100))
	if n := c.Get(1, make([]byte, 50)); n != 0 {
		t.Fatalf("Get with short dst = %d, want 0", n)
	}
	if n := c.Get(1, make([]byte, rtpHeaderSize+100)); n != rtpHeaderSize+100 {
		t.Fatalf("Get with exact dst = %d, want %d", n, rtpHeaderSize+100)
	}
	c.Add(rawPacket(2, MaxPacketSize))
	if n := c.Get(2, make([]byte, 2*MaxPacketSize)); n != 0 {
		t.Fatalf("Get of an oversized packet = %d, want 0", n)
	}
}

func TestPacketCacheCopies(t *testing.T) {
	c := NewPacketCache(8)
	pkt := rawPacket(1, 10)
	c.Add(pkt)
	pkt[rtpHeaderSize] = 0xff // the caller reuses its buffer
	dst := make([]byte, MaxPacketSize)
	if n := c.Get(1, dst); n == 0 || dst[rtpHeaderSize] != 1 {
		t.Fatalf("cache did not keep its own copy: n=%d, byte=%#x", n, dst[rtpHeaderSize])
	}
}

// TestPacketCacheConcurrent runs one writer and several readers; run it
// with -race.
func TestPacketCacheConcurrent(t *testing.T) {
	c := NewPacketCache(64)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			dst := make([]byte, MaxPacketSize)
			for seq := uint16(0); ; seq++ {
				select {
				case <-done:
					return
				default:
				}
				if n := c.Get(seq, dst); n != 0 {
					got := binary.BigEndian.Uint16(dst[2:])
					if got != seq {
						t.Errorf("Get(%d) returned packet %d", seq, got)
						return
					}
				}
			}
		})
	}
	for seq := range uint16(5000) {
		c.Add(rawPacket(seq, 100))
	}
	close(done)
	wg.Wait()
}

func TestPacketCacheAllocs(t *testing.T) {
	c := NewPacketCache(512)
	pkt := rawPacket(0, 1000)
	dst := make([]byte, MaxPacketSize)
	var seq uint16
	n := testing.AllocsPerRun(1000, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		c.Add(pkt)
		c.Get(seq-3, dst)
	})
	if n != 0 {
		t.Fatalf("Add and Get allocate %v times per call", n)
	}
}

func BenchmarkPacketCacheAdd(b *testing.B) {
	b.ReportAllocs()
	c := NewPacketCache(512)
	pkt := rawPacket(0, 1200)
	b.SetBytes(int64(len(pkt)))
	var seq uint16
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		c.Add(pkt)
	}
}

func BenchmarkPacketCacheGet(b *testing.B) {
	b.ReportAllocs()
	c := NewPacketCache(512)
	for seq := range uint16(512) {
		c.Add(rawPacket(seq, 1200))
	}
	dst := make([]byte, MaxPacketSize)
	b.SetBytes(rtpHeaderSize + 1200)
	var seq uint16
	for b.Loop() {
		seq++
		c.Get(seq&511, dst)
	}
}
