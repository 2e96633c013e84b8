package loadtest

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/rtp"
)

// TestPlayout feeds a track's packets in a chosen order, one per 10 ms,
// and checks what a decoder would have shown: the size of the newest whole
// frame and the longest freeze.
func TestPlayout(t *testing.T) {
	const (
		key   = 'K' // first packet of a keyframe
		delta = 'D' // first packet of an interframe
		more  = 'm' // a later packet of a frame
	)
	// Frames of two packets each (the second ends the frame), seq 0...
	frame := func(kind byte) []byte { return []byte{kind, more} }
	var stream []byte
	stream = append(stream, frame(key)...)
	for range 60 {
		stream = append(stream, frame(delta)...)
	}
	stream = append(stream, frame(key)...)
	for range 60 {
		stream = append(stream, frame(delta)...)
	}
	inOrder := func() []int {
		order := make([]int, len(stream))
		for i := range order {
			order[i] = i
		}
		return order
	}

	tests := []struct {
		name    string
		order   func() []int // which seq arrives at each tick
		wantGap time.Duration
	}{
		{"in order", inOrder, 20 * time.Millisecond},
		{"a hole repaired 5 packets later", func() []int {
			o := inOrder()
			return append(append(append([]int{}, o[:10]...), o[11:16]...), append([]int{10}, o[16:]...)...)
		}, 60 * time.Millisecond},
		{"a hole never repaired freezes until the keyframe", func() []int {
			o := inOrder()
			return append(append([]int{}, o[:10]...), o[11:]...)
		}, 1130 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTrackState(TrackCounts{}, 0, false)
			start := time.Unix(1000, 0)
			for i, seq := range tt.order() {
				p := &pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: uint16(seq), Marker: seq%2 == 1}}
				switch stream[seq] {
				case key:
					p.Payload = []byte{0x10, 0x10, 0, 0}
				case delta:
					p.Payload = []byte{0x10, 0x11, 0, 0}
				default:
					p.Payload = []byte{0x00, 0, 0}
				}
				st.add(p, 12+len(p.Payload), rtp.CodecVP8, start.Add(time.Duration(i)*10*time.Millisecond))
			}
			c := st.counts
			if c.LongestGap != tt.wantGap {
				t.Errorf("longest gap %v, want %v", c.LongestGap, tt.wantGap)
			}
			if c.LastFrameSize != 7 || c.Keyframes != 2 || c.Frames != len(stream)/2 {
				t.Errorf("last frame %d bytes, %d keyframes, %d frames", c.LastFrameSize, c.Keyframes, c.Frames)
			}
		})
	}
}

// TestNACKsAndReports checks what a track asks for and reports: each
// missing packet up to maxNacks times, none once it arrived, and RFC 3550
// loss figures.
func TestNACKsAndReports(t *testing.T) {
	st := newTrackState(TrackCounts{SSRC: 42}, 90000, true)
	start := time.Unix(1000, 0)
	arrive := func(seq uint16, i int) {
		p := &pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: seq, Marker: true}, Payload: []byte{0x10, 0x11, 0, 0}}
		st.add(p, 16, rtp.CodecVP8, start.Add(time.Duration(i)*10*time.Millisecond))
	}
	// 65530..65535, 0..9 across the wrap, without 65533, 2 and 3.
	i := 0
	for seq := uint16(65530); seq != 10; seq++ {
		if seq != 65533 && seq != 2 && seq != 3 {
			arrive(seq, i)
		}
		i++
	}
	if got := st.missing(nil); !slices.Equal(got, []uint16{65533, 2, 3}) {
		t.Fatalf("first NACK asks for %v, want [65533 2 3]", got)
	}
	arrive(2, i) // repaired
	for n := 2; n <= maxNacks; n++ {
		if got := st.missing(nil); !slices.Equal(got, []uint16{65533, 3}) {
			t.Fatalf("NACK %d asks for %v, want [65533 3]", n, got)
		}
	}
	if got := st.missing(nil); len(got) != 0 {
		t.Fatalf("after %d NACKs each, still asks for %v", maxNacks, got)
	}

	rep := st.report(start)
	if rep.SSRC != 42 || rep.LastSequenceNumber != 1<<16+9 || rep.TotalLost != 2 {
		t.Errorf("report %+v: want SSRC 42, highest 1<<16+9 (one wrap), 2 lost", rep)
	}
	if want := uint8(2 * 256 / 16); rep.FractionLost != want {
		t.Errorf("fraction lost %d, want %d (2 of 16)", rep.FractionLost, want)
	}
	for seq := uint16(10); seq < 20; seq++ {
		arrive(seq, i)
		i++
	}
	if rep := st.report(start); rep.FractionLost != 0 || rep.TotalLost != 2 {
		t.Errorf("after a clean interval: fraction %d, total %d; want 0, 2", rep.FractionLost, rep.TotalLost)
	}

	audio := newTrackState(TrackCounts{}, 48000, false)
	audio.add(&pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: 1}}, 12, rtp.CodecOpus, start)
	audio.add(&pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: 3}}, 12, rtp.CodecOpus, start)
	if got := audio.missing(nil); len(got) != 0 {
		t.Errorf("audio asks for %v; it has no NACK", got)
	}
}

// TestFeedbackClock checks that the shared clock sends a registered
// receiver's feedback and stops with its last member.
func TestFeedbackClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	sent := make(chan []rtcp.Packet, 100)
	r := newReceiver(func(p []rtcp.Packet) error { sent <- p; return nil })
	st := newTrackState(TrackCounts{SSRC: 7}, 90000, true)
	r.tracks["v"] = st
	now := time.Now()
	for _, seq := range []uint16{1, 2, 4} {
		st.add(&pionrtp.Packet{Header: pionrtp.Header{SequenceNumber: seq}, Payload: []byte{0x10, 0x11, 0, 0}}, 16, rtp.CodecVP8, now)
	}
	r.twcc.record(7, 100, now)
	clock.join(r)
	var nack, fb bool
	deadline := time.After(5 * time.Second)
	for !nack || !fb {
		select {
		case pkts := <-sent:
			for _, p := range pkts {
				switch p := p.(type) {
				case *rtcp.TransportLayerNack:
					nack = p.MediaSSRC == 7 && slices.Equal(p.Nacks[0].PacketList(), []uint16{3})
				case *rtcp.TransportLayerCC:
					fb = true
				}
			}
		case <-deadline:
			t.Fatalf("no NACK for 3 (%v) or no TWCC feedback (%v) in 5 s", nack, fb)
		}
	}
	clock.leave(r)
	clock.leave(r) // a second leave is harmless
}

// TestPLIThrottled: a track whose decoder waits for a keyframe asks for
// one on the feedback clock, at most every pliEvery, as browsers do, and
// stops once a keyframe has been shown.
func TestPLIThrottled(t *testing.T) {
	var sent []rtcp.Packet
	r := newReceiver(func(p []rtcp.Packet) error { sent = append(sent, p...); return nil })
	st := newTrackState(TrackCounts{SSRC: 42}, 90000, true)
	r.tracks["v"] = st
	plis := func(now time.Time) int {
		sent = sent[:0]
		r.sendFeedback(now)
		n := 0
		for _, p := range sent {
			if pli, ok := p.(*rtcp.PictureLossIndication); ok && pli.MediaSSRC == 42 {
				n++
			}
		}
		return n
	}
	start := time.Unix(1000, 0)
	if n := plis(start); n != 0 {
		t.Fatalf("%d PLIs from a track that decodes", n)
	}
	st.needKey = true
	for _, c := range []struct {
		after time.Duration
		want  int
	}{{0, 1}, {20 * time.Millisecond, 0}, {pliEvery - time.Millisecond, 0}, {pliEvery, 1}, {pliEvery + 20*time.Millisecond, 0}} {
		if n := plis(start.Add(c.after)); n != c.want {
			t.Errorf("%v after the frame was lost: %d PLIs, want %d", c.after, n, c.want)
		}
	}
	st.needKey = false
	if n := plis(start.Add(3 * pliEvery)); n != 0 {
		t.Errorf("%d PLIs after the keyframe", n)
	}
}

// TestRepairedRTX: a retransmission on a separate RTX stream (RFC 4588)
// counts as the packet it carries, and padding alone (a probe) does not
// count as media.
func TestRepairedRTX(t *testing.T) {
	r := newReceiver(nil)
	in := &trackInput{r: r, codec: rtp.CodecVP8, ssrc: 42, rtxSSRC: 43,
		st: newTrackState(TrackCounts{SSRC: 42}, 90000, true)}
	marshal := func(p *pionrtp.Packet) []byte {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	media := func(seq uint16) []byte {
		return marshal(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, SSRC: 42, SequenceNumber: seq, Marker: true, PayloadType: 96}, Payload: []byte{0x10, 0x11, 0, 0}})
	}
	in.decrypted(media(100), time.Time{}, &in.p)
	in.decrypted(media(102), time.Time{}, &in.p)
	if got := in.st.missing(nil); !slices.Equal(got, []uint16{101}) {
		t.Fatalf("missing %v, want [101]", got)
	}
	in.repaired(marshal(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, Padding: true, SSRC: 43, SequenceNumber: 7, PayloadType: 97},
		PaddingSize: 200}), time.Time{}, &in.rtx) // a probe: padding only
	in.repaired(marshal(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, SSRC: 43, SequenceNumber: 8, Marker: true, PayloadType: 97},
		Payload: []byte{0, 101, 0x10, 0x11, 0, 0}}), time.Time{}, &in.rtx)
	c := in.st.counts
	if c.Unique != 3 || c.Duplicates != 0 || c.Missing != 0 || len(in.st.missing(nil)) != 0 {
		t.Errorf("after the retransmission of 101: %d unique, %d duplicates, %d missing; want 3, 0, 0", c.Unique, c.Duplicates, c.Missing)
	}
}
