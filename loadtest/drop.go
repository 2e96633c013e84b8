package loadtest

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// dropFactory builds an interceptor that loses chosen outgoing RTP
// packets the first time they pass, before SRTP, as if the network lost
// them, to exercise NACK repair. Retransmissions of the same sequence
// number pass.
type dropFactory struct {
	out func(seq uint16) bool
}

func (f *dropFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropper{out: f.out, seen: seenSet{}}, nil
}

type dropper struct {
	interceptor.NoOp
	out  func(seq uint16) bool
	mu   sync.Mutex // guards seen
	seen seenSet
}

// seenSet records the sequence numbers seen per SSRC.
type seenSet map[uint32]map[uint16]bool

// firstTime records seq for ssrc and reports whether it was new.
func (s seenSet) firstTime(ssrc uint32, seq uint16) bool {
	m := s[ssrc]
	if m == nil {
		m = map[uint16]bool{}
		s[ssrc] = m
	}
	if m[seq] {
		return false
	}
	m[seq] = true
	return true
}

func (d *dropper) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if d.out == nil || info.MimeType != "video/VP8" {
		return writer
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		d.mu.Lock()
		drop := d.seen.firstTime(info.SSRC, h.SequenceNumber) && d.out(h.SequenceNumber)
		d.mu.Unlock()
		if drop {
			return len(payload), nil
		}
		return writer.Write(h, payload, a)
	})
}

// lossyConn loses chosen incoming RTP datagrams the first time their
// sequence number arrives, below SRTP as a real network would (the RTP
// header travels in the clear), so that the retransmission is not refused
// as a replay.
type lossyConn struct {
	net.PacketConn
	pt   uint8
	drop func(seq uint16) bool
	mu   sync.Mutex // guards seen
	seen seenSet
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n < 12 || b[0]>>6 != 2 || b[1]&0x7f != c.pt {
			return n, addr, err
		}
		seq := binary.BigEndian.Uint16(b[2:4])
		ssrc := binary.BigEndian.Uint32(b[8:12])
		c.mu.Lock()
		lose := c.seen.firstTime(ssrc, seq) && c.drop(seq)
		c.mu.Unlock()
		if !lose {
			return n, addr, err
		}
	}
}
