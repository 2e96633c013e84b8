package loadtest

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// The sample media: made by testdata/gen-media.sh, which says what they hold.
//
//go:embed testdata/media/*
var sampleFiles embed.FS

// sampleLayerFiles are the VP8 files of the simulcast layers, lowest first
// (rids q, h and f).
var sampleLayerFiles = [3]string{"q.ivf", "h.ivf", "f.ivf"}

// Frame is one encoded frame (video) or Opus packet (audio).
type Frame struct {
	Data []byte
	// Key is set on VP8 keyframes.
	Key bool
	// Duration is how long the frame or packet plays.
	Duration time.Duration
}

// Samples is real encoded media for a publisher to loop: the same clip in
// three VP8 simulcast layers, frame for frame, and Opus audio of the same
// length. Frame 0 of every layer is a keyframe, so all layers can restart
// there together. Samples are shared: nobody may modify them.
type Samples struct {
	Layers [3][]Frame // q, h and f: 320x180, 640x360 and 1280x720
	Audio  []Frame
}

// ErrBadSamples is wrapped by the errors of sample media that cannot be
// published as they are.
var ErrBadSamples = errors.New("loadtest: bad sample media")

var loadSamples = sync.OnceValues(parseSamples)

// LoadSamples returns the embedded sample media, parsed on the first call;
// every call returns the same read-only Samples.
func LoadSamples() (*Samples, error) { return loadSamples() }

func parseSamples() (*Samples, error) {
	s := &Samples{}
	for i, name := range sampleLayerFiles {
		frames, err := readIVF(name)
		if err != nil {
			return nil, err
		}
		s.Layers[i] = frames
	}
	audio, err := readOpus("audio.ogg")
	if err != nil {
		return nil, err
	}
	s.Audio = audio
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// check says whether a publisher can loop s: every layer has the same
// number of frames, frame 0 of each is a keyframe, and all durations are
// positive.
func (s *Samples) check() error {
	n := len(s.Layers[0])
	for i, l := range s.Layers {
		if len(l) != n || n == 0 {
			return fmt.Errorf("%w: layers have %d, %d and %d frames, want the same, not 0",
				ErrBadSamples, len(s.Layers[0]), len(s.Layers[1]), len(s.Layers[2]))
		}
		if !l[0].Key {
			return fmt.Errorf("%w: frame 0 of layer %d is not a keyframe", ErrBadSamples, i)
		}
		if err := positiveDurations(l); err != nil {
			return fmt.Errorf("%w: layer %d: %w", ErrBadSamples, i, err)
		}
	}
	if len(s.Audio) == 0 {
		return fmt.Errorf("%w: no audio", ErrBadSamples)
	}
	if err := positiveDurations(s.Audio); err != nil {
		return fmt.Errorf("%w: audio: %w", ErrBadSamples, err)
	}
	return nil
}

func positiveDurations(frames []Frame) error {
	for i, f := range frames {
		if f.Duration <= 0 {
			return fmt.Errorf("frame %d lasts %v", i, f.Duration)
		}
	}
	return nil
}

// readIVF reads a VP8 IVF file whose frames are one timebase tick apart,
// which is how ffmpeg writes a constant frame rate.
func readIVF(name string) ([]Frame, error) {
	data, err := sampleFiles.ReadFile("testdata/media/" + name)
	if err != nil {
		return nil, err
	}
	r, h, err := ivfreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadSamples, name, err)
	}
	if h.FourCC != "VP80" {
		return nil, fmt.Errorf("%w: %s holds %q, want VP80", ErrBadSamples, name, h.FourCC)
	}
	// The header's timebase is Numerator/Denominator seconds per tick.
	tick := time.Duration(h.TimebaseNumerator) * time.Second / time.Duration(h.TimebaseDenominator)
	var frames []Frame
	for {
		payload, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: frame %d: %w", ErrBadSamples, name, len(frames), err)
		}
		// ivfreader reports a frame's pts scaled by Denominator/Numerator;
		// frame i must have pts i, or frames were dropped.
		if want := uint64(len(frames)) * uint64(h.TimebaseDenominator) / uint64(h.TimebaseNumerator); fh.Timestamp != want {
			return nil, fmt.Errorf("%w: %s: frame %d is not one tick after the previous", ErrBadSamples, name, len(frames))
		}
		if len(payload) == 0 {
			return nil, fmt.Errorf("%w: %s: frame %d is empty", ErrBadSamples, name, len(frames))
		}
		// RFC 6386 9.1: the low bit of the first byte is clear on keyframes.
		frames = append(frames, Frame{Data: payload, Key: payload[0]&1 == 0, Duration: tick})
	}
}

// readOpus reads the Opus packets of an Ogg Opus file (RFC 7845). The
// first packet, OpusHead, fills the first page; the second, OpusTags, is
// dropped; every later packet is audio.
func readOpus(name string) ([]Frame, error) {
	data, err := sampleFiles.ReadFile("testdata/media/" + name)
	if err != nil {
		return nil, err
	}
	in := bytes.NewReader(data)
	r, _, err := oggreader.NewWith(in)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadSamples, name, err)
	}
	var packets [][]byte
	var partial []byte // a packet continued on the next page
	for {
		// oggreader checks the page but keeps its segment table, which
		// says where its packets end: read it from the bytes themselves.
		start := len(data) - in.Len()
		payload, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadSamples, name, err)
		}
		const headerLen = 27 // the fixed part of a page header; byte 26 counts the segments
		lacing := data[start+headerLen : start+headerLen+int(data[start+headerLen-1])]
		off := 0
		for _, n := range lacing {
			partial = append(partial, payload[off:off+int(n)]...)
			off += int(n)
			if n < 255 { // a lacing value under 255 ends a packet
				packets = append(packets, partial)
				partial = nil
			}
		}
	}
	if len(packets) < 2 || !bytes.HasPrefix(packets[0], []byte("OpusTags")) {
		return nil, fmt.Errorf("%w: %s: no OpusTags and audio packets after OpusHead", ErrBadSamples, name)
	}
	var frames []Frame
	for i, p := range packets[1:] {
		d, err := opusDuration(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: packet %d: %w", ErrBadSamples, name, i, err)
		}
		frames = append(frames, Frame{Data: p, Duration: d})
	}
	return frames, nil
}

// opusDuration is how long an Opus packet plays, from its TOC byte
// (RFC 6716 3.1).
func opusDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, errors.New("empty packet")
	}
	config := p[0] >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		frame = [4]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = [2]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT-only: 2.5, 5, 10, 20 ms
		frame = [4]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	switch p[0] & 3 {
	case 0:
		return frame, nil
	case 1, 2:
		return 2 * frame, nil
	default:
		if len(p) < 2 {
			return 0, errors.New("code 3 packet without a frame count")
		}
		return time.Duration(p[1]&0x3f) * frame, nil
	}
}
