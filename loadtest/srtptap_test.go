package loadtest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/sfu-project/sfu/rtp"
)

// TestSRTPTapDecrypt: the tap decrypts the media of streams with a
// handler, and leaves to pion RTCP, streams without a handler and packets
// that do not decrypt.
func TestSRTPTapDecrypt(t *testing.T) {
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	sender, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	tap := newSRTPTap()
	if tap.ctx, err = tapContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm); err != nil {
		t.Fatal(err)
	}
	var got []uint16
	tap.attach(42, func(b []byte, _ time.Time, p *pionrtp.Packet) {
		if p.Unmarshal(b) != nil || string(p.Payload) != "frame" {
			t.Errorf("handed %x", b)
		}
		got = append(got, p.SequenceNumber)
	})
	seal := func(ssrc uint32, seq uint16) []byte {
		plain, err := (&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 96, SSRC: ssrc, SequenceNumber: seq}, Payload: []byte("frame")}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b, err := sender.EncryptRTP(nil, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := make([]byte, receiveMTU)
	take := func(b []byte) bool {
		h, out := tap.decrypt(b, plain)
		if h != nil {
			h(out, time.Now(), &pionrtp.Packet{})
		}
		return h != nil
	}
	// The sequence numbers wrap: the tap follows the rollover counter.
	for _, seq := range []uint16{65534, 65535, 0, 1} {
		if !take(seal(42, seq)) {
			t.Errorf("packet %d of a stream with a handler not taken", seq)
		}
	}
	if take(seal(43, 1)) {
		t.Error("a packet of a stream without a handler was taken")
	}
	bad := seal(42, 2)
	bad[len(bad)-1] ^= 1
	if take(bad) {
		t.Error("a packet that does not authenticate was taken")
	}
	rtcp := seal(42, 3)
	rtcp[1] = 200 // a sender report's packet type
	if take(rtcp) || take([]byte{0x16, 0xfe, 0xfd}) {
		t.Error("RTCP or DTLS taken")
	}
	if want := []uint16{65534, 65535, 0, 1}; !slices.Equal(got, want) || tap.taken != len(want) {
		t.Fatalf("handled %v (%d taken), want %v", got, tap.taken, want)
	}
	// A stream whose packets stop decrypting (the two contexts disagree on
	// the rollover counter) is left to pion.
	for i := range maxTapFailures {
		bad := seal(42, 10+uint16(i))
		bad[len(bad)-1] ^= 1
		take(bad)
	}
	if take(seal(42, 40)) {
		t.Errorf("still taken after %d packets in a row failed", maxTapFailures)
	}
	// A stream detached, when its track ends, is left to pion.
	tap.attach(44, func([]byte, time.Time, *pionrtp.Packet) {})
	if !take(seal(44, 1)) {
		t.Fatal("a packet of stream 44 not taken")
	}
	tap.detach(44)
	if take(seal(44, 2)) {
		t.Error("taken after the stream was detached")
	}
	// Where Cryptex was negotiated, header extensions come encrypted.
	cryptex, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm, srtp.Cryptex(srtp.CryptexModeEnabled))
	if err != nil {
		t.Fatal(err)
	}
	var ext []byte
	tap.attach(45, func(b []byte, _ time.Time, p *pionrtp.Packet) {
		if p.Unmarshal(b) == nil && string(p.Payload) == "frame" {
			ext = p.GetExtension(3)
		}
	})
	h := pionrtp.Header{Version: 2, PayloadType: 96, SSRC: 45, SequenceNumber: 1}
	if err := h.SetExtension(3, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	sealed, err := (&pionrtp.Packet{Header: h, Payload: []byte("frame")}).Marshal()
	if err == nil {
		sealed, err = cryptex.EncryptRTP(nil, sealed, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !take(sealed) || !bytes.Equal(ext, []byte{1, 2}) {
		t.Errorf("a packet with encrypted header extensions (Cryptex): extension %x, want 0102", ext)
	}
}

// BenchmarkSRTPTap is a subscriber's receive path per packet from the
// socket's datagram on: decrypt, congestion control record, count and
// playout of 720p video, 1,100-byte packets, 3 to a frame. It must not
// allocate.
func BenchmarkSRTPTap(b *testing.B) {
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	sender, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	r := newReceiver(nil)
	r.twcc.extID.Store(3)
	if r.tap.ctx, err = tapContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm); err != nil {
		b.Fatal(err)
	}
	in := &trackInput{r: r, codec: rtp.CodecVP8, ssrc: 42, st: newTrackState(TrackCounts{SSRC: 42}, 90000, true)}
	r.tap.attach(42, in.decrypted)

	// The packets are sealed a batch at a time, off the clock, so that
	// sequence numbers run on as a sender's do.
	batch := make([][]byte, 1024)
	next := 0
	payload := bytes.Repeat([]byte{0x10}, 1100)
	seal := func() {
		for i := range batch {
			h := pionrtp.Header{Version: 2, PayloadType: 96, SSRC: 42, SequenceNumber: uint16(next), Timestamp: uint32(next/3) * 3000, Marker: next%3 == 2}
			if err := h.SetExtension(3, []byte{byte(next >> 8), byte(next)}); err != nil {
				b.Fatal(err)
			}
			plain, err := (&pionrtp.Packet{Header: h, Payload: payload}).Marshal()
			if err != nil {
				b.Fatal(err)
			}
			if batch[i], err = sender.EncryptRTP(batch[i][:0], plain, nil); err != nil {
				b.Fatal(err)
			}
			next++
		}
	}
	plain := make([]byte, receiveMTU)
	var p pionrtp.Packet
	at := time.Now()
	seal()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%len(batch) == 0 {
			b.StopTimer()
			seal()
			b.StartTimer()
		}
		h, out := r.tap.decrypt(batch[i%len(batch)], plain)
		if h == nil {
			b.Fatal("not taken")
		}
		h(out, at, &p)
	}
	if c := in.st.counts; c.Unique != b.N || c.Duplicates != 0 {
		b.Fatalf("%d packets counted, %d duplicates, want %d and none", c.Unique, c.Duplicates, b.N)
	}
}
