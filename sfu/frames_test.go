package sfu

import (
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/pion/interceptor"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// scriptedReader hands out packets as a TrackRemote would, then io.EOF.
type scriptedReader struct {
	steps     []readStep
	deadlines int // calls of SetReadDeadline
	attrs     interceptor.Attributes
}

type readStep struct {
	pkt     []byte
	rtx     bool // read from the RTX stream
	timeout bool // the read deadline passes instead
}

func (r *scriptedReader) Read(b []byte) (int, interceptor.Attributes, error) {
	if len(r.steps) == 0 {
		return 0, nil, io.EOF
	}
	s := r.steps[0]
	r.steps = r.steps[1:]
	if s.timeout {
		return 0, nil, os.ErrDeadlineExceeded
	}
	var attrs interceptor.Attributes
	if s.rtx {
		if r.attrs == nil {
			r.attrs = interceptor.Attributes{}
			r.attrs.Set(webrtc.AttributeRtxSsrc, uint32(99))
		}
		attrs = r.attrs
	}
	return copy(b, s.pkt), attrs, nil
}

func (r *scriptedReader) SetReadDeadline(time.Time) error {
	r.deadlines++
	return nil
}

// orderLog records, across DownTracks, which subscriber got which
// incoming packet in which order: "SSRC:first payload byte after the VP8
// descriptor".
type orderLog struct {
	got *[]string
}

func (o orderLog) WriteRTP(h *pionrtp.Header, payload []byte) (int, error) {
	*o.got = append(*o.got, fmt.Sprintf("%d:%d", h.SSRC, payload[2]))
	return len(payload), nil
}

func (o orderLog) Write(b []byte) (int, error) { return len(b), nil }

// tagged is framePacket with a tag in the payload to recognise it by.
func tagged(seq uint16, ts uint32, key, last bool, tag byte) []byte {
	b := framePacket(seq, ts, key, last)
	b[12+2] = tag
	return b
}

// TestRunFramesFansOutFrameByFrame: a frame's packets go to one subscriber
// in a row, then to the next; a frame ends at its marker, at the next
// frame's first packet, at a read timeout, or when a retransmission comes
// (forwarded at once after it); and reading allocates nothing per packet.
func TestRunFramesFansOutFrameByFrame(t *testing.T) {
	up, l := testUpTrack(nil)
	var got []string
	bindDownTrack(t, up, 1, 96, orderLog{&got})
	bindDownTrack(t, up, 2, 96, orderLog{&got})
	r := &scriptedReader{steps: []readStep{
		// A keyframe of three packets, the marker on the last.
		{pkt: tagged(10, 3000, true, false, 1)}, {pkt: tagged(11, 3000, false, false, 2)}, {pkt: tagged(12, 3000, false, true, 3)},
		// A frame whose marker was lost: it ends when the next begins.
		{pkt: tagged(13, 6000, false, false, 4)},
		{pkt: tagged(15, 9000, false, false, 5)},
		// The deadline passes while it waits for the rest.
		{timeout: true},
		// A retransmission of 14 while 16 is held: 16 first, then 14.
		{pkt: tagged(16, 9000, false, false, 6)},
		{pkt: tagged(14, 6000, false, true, 7), rtx: true},
		{pkt: tagged(17, 9000, false, true, 8)},
	}}
	up.runFrames(l, r)
	want := []string{
		"1:1", "1:2", "1:3", "2:1", "2:2", "2:3",
		"1:4", "2:4",
		"1:5", "2:5",
		"1:6", "2:6",
		"1:7", "2:7",
		"1:8", "2:8",
	}
	if !slices.Equal(got, want) {
		t.Errorf("written in the order\n%v, want\n%v", got, want)
	}
	if r.deadlines == 0 {
		t.Error("no read deadline set while packets were held")
	}

	// Allocations: a long run of frames costs only the reader's setup.
	up, l = testUpTrack(nil)
	w := &discard{}
	bindDownTrack(t, up, 1, 96, w)
	bindDownTrack(t, up, 2, 96, w)
	// AllocsPerRun runs twice (once to warm up): new sequence numbers each time.
	const n = 3000
	var runs [2][]readStep
	for r := range runs {
		for i := range n {
			seq := r*n + i
			runs[r] = append(runs[r], readStep{pkt: tagged(uint16(100+seq), uint32(12000+seq/6*3000), seq == 0, i%6 == 5, 9)})
		}
	}
	run := 0
	allocs := testing.AllocsPerRun(1, func() {
		up.runFrames(l, &scriptedReader{steps: runs[run]})
		run++
	})
	if w.packets != 2*2*n {
		t.Fatalf("wrote %d packets, want %d", w.packets, 2*2*n)
	}
	if allocs > 50 {
		t.Errorf("%.0f allocations reading %d packets, want only the reader's setup", allocs, n)
	}
}
