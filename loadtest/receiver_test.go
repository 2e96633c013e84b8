package loadtest

import (
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"

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
			st := &trackState{seen: map[uint64]bool{}, player: player{pending: map[uint64]pendingPkt{}, missingAt: map[uint64]time.Time{}}}
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
