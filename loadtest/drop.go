package loadtest

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// dropFactory builds an interceptor that loses chosen RTP packets the
// first time they pass, to exercise NACK repair. Retransmissions of the
// same sequence number pass.
type dropFactory struct {
	in, out func(seq uint16) bool
}

func (f *dropFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropper{in: f.in, out: f.out, seenIn: map[uint32]map[uint16]bool{}, seenOut: map[uint32]map[uint16]bool{}}, nil
}

type dropper struct {
	interceptor.NoOp
	in, out         func(seq uint16) bool
	mu              sync.Mutex // guards the seen maps
	seenIn, seenOut map[uint32]map[uint16]bool
}

// firstTime records seq for ssrc and reports whether it was new.
func (d *dropper) firstTime(seen map[uint32]map[uint16]bool, ssrc uint32, seq uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := seen[ssrc]
	if s == nil {
		s = map[uint16]bool{}
		seen[ssrc] = s
	}
	if s[seq] {
		return false
	}
	s[seq] = true
	return true
}

func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if d.in == nil || info.MimeType != "video/VP8" {
		return reader
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil || n < 12 {
				return n, attr, err
			}
			seq := uint16(b[2])<<8 | uint16(b[3])
			if d.firstTime(d.seenIn, info.SSRC, seq) && d.in(seq) {
				continue
			}
			return n, attr, err
		}
	})
}

func (d *dropper) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if d.out == nil || info.MimeType != "video/VP8" {
		return writer
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if d.firstTime(d.seenOut, info.SSRC, h.SequenceNumber) && d.out(h.SequenceNumber) {
			return len(payload), nil
		}
		return writer.Write(h, payload, a)
	})
}
