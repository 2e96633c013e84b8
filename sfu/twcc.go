package sfu

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// bweFactory builds, for each subscriber PeerConnection, an interceptor
// that records when each packet left (by transport-wide sequence number)
// and turns the subscriber's TWCC feedback and REMB into a
// BandwidthEstimator. pion builds interceptors inside NewPeerConnection,
// so the participant takes its estimator from next right after.
type bweFactory struct {
	now     func() time.Time
	flushes *flushClock // the media socket's batches; nil if it sends at once
	next    chan *BandwidthEstimator
}

// newBWEFactory returns a factory whose interceptors stamp departures
// with the batches of flushes, or with now where flushes is nil (see
// flushClock).
func newBWEFactory(now func() time.Time, flushes *flushClock) *bweFactory {
	return &bweFactory{now: now, flushes: flushes, next: make(chan *BandwidthEstimator, 1)}
}

func (f *bweFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	i := &bweInterceptor{est: NewBandwidthEstimator(), now: f.now, base: f.now(), flushes: f.flushes}
	select {
	case f.next <- i.est:
	default: // nobody is waiting: a PeerConnection created without taking it
	}
	return i, nil
}

// take returns the estimator of the PeerConnection just created.
func (f *bweFactory) take() *BandwidthEstimator {
	select {
	case e := <-f.next:
		return e
	default:
		return NewBandwidthEstimator()
	}
}

// sentRing is how many sent packets are remembered; feedback arrives
// within a few hundred milliseconds, far fewer packets than this.
const sentRing = 1 << 13

// sentSlot is one sent packet: when it left, or the batch it left in, and
// its transport-wide sequence number and size packed in meta. Every
// packet to a subscriber writes one, from whichever track's fan-out sends
// it, so it takes no lock: two writers never share a slot, as their
// sequence numbers differ and the ring is far longer than the packets in
// flight. onFeedback checks that the two words it read belong to one
// write.
//
// 16 bytes and no pointers: with a time.Time the ring was 48 bytes a
// packet, 384 KiB per subscriber, all of it scanned by every garbage
// collection.
type sentSlot struct {
	at   atomic.Int64  // since bweInterceptor.base, ns; or the batch's generation
	meta atomic.Uint64 // seq<<32 | size<<2 | batched<<1 | 1; 0 while being written
}

// store records packet seq: at is its departure since the interceptor's
// base, or, if batched, the generation of the batch it went into.
func (s *sentSlot) store(seq uint16, at int64, batched bool, size int) {
	m := uint64(seq)<<32 | uint64(min(size, math.MaxInt32>>1))<<2 | 1
	if batched {
		m |= 2
	}
	s.meta.Store(0)
	s.at.Store(at)
	s.meta.Store(m)
}

// load returns what store recorded for packet seq, if the slot holds it.
func (s *sentSlot) load(seq uint16) (at int64, batched bool, size int, ok bool) {
	m := s.meta.Load()
	at = s.at.Load()
	if m&1 == 0 || uint16(m>>32) != seq || s.meta.Load() != m {
		return 0, false, 0, false
	}
	return at, m&2 != 0, int(uint32(m) >> 2), true
}

type bweInterceptor struct {
	interceptor.NoOp
	est     *BandwidthEstimator
	now     func() time.Time
	base    time.Time   // departures not batched are kept as durations since
	flushes *flushClock // nil: packets leave when written

	sent [sentRing]sentSlot

	mu   sync.Mutex // guards acks
	acks []ackSample
}

// BindLocalStream records each outgoing packet's transport-wide sequence
// number, with the batch it went into or the time it was written (see
// flushClock). It must sit nearer the network than the interceptor that
// adds the extension.
func (b *bweInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return writer
	}
	if b.flushes != nil {
		return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
			ext := h.GetExtension(id)
			if len(ext) < 2 {
				return writer.Write(h, payload, a)
			}
			seq, size := binary.BigEndian.Uint16(ext), h.MarshalSize()+len(payload)+int(h.PaddingSize)
			n, err := writer.Write(h, payload, a)
			// The write has copied the packet into the newest batch
			// (see flushClock).
			b.sent[seq%sentRing].store(seq, int64(b.flushes.newest()), true, size)
			return n, err
		})
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if ext := h.GetExtension(id); len(ext) >= 2 {
			seq := binary.BigEndian.Uint16(ext)
			b.sent[seq%sentRing].store(seq, int64(b.now().Sub(b.base)), false, h.MarshalSize()+len(payload)+int(h.PaddingSize))
		}
		return writer.Write(h, payload, a)
	})
}

// BindRTCPReader feeds the estimator from the RTCP the subscriber sends.
func (b *bweInterceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(buf []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(buf, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = make(interceptor.Attributes)
		}
		pkts, perr := a.GetRTCPPackets(buf[:n])
		if perr != nil {
			return n, a, err
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerCC:
				b.onFeedback(p)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				b.est.OnREMB(float64(p.Bitrate), b.now())
			}
		}
		return n, a, err
	})
}

// onFeedback matches a TWCC report against the packets sent.
func (b *bweInterceptor) onFeedback(fb *rtcp.TransportLayerCC) {
	b.mu.Lock()
	b.acks = b.acks[:0]
	seq := fb.BaseSequenceNumber
	arrival := time.Unix(0, 0).Add(time.Duration(fb.ReferenceTime) * 64 * time.Millisecond)
	left := int(fb.PacketStatusCount)
	deltas := fb.RecvDeltas
	status := func(symbol uint16) {
		if left <= 0 {
			return
		}
		left--
		at, batched, size, ok := b.sent[seq%sentRing].load(seq)
		received := symbol == rtcp.TypeTCCPacketReceivedSmallDelta || symbol == rtcp.TypeTCCPacketReceivedLargeDelta
		if received && len(deltas) > 0 {
			arrival = arrival.Add(time.Duration(deltas[0].Delta) * time.Microsecond)
			deltas = deltas[1:]
		}
		sent := b.base.Add(time.Duration(at))
		if ok && batched {
			sent, ok = b.flushes.departure(uint64(at))
		}
		if ok {
			b.acks = append(b.acks, ackSample{sent: sent, arrival: arrival, size: size, lost: !received})
		}
		seq++
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for i := uint16(0); i < c.RunLength && left > 0; i++ {
				status(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				status(sym)
			}
		}
	}
	acks := b.acks
	b.est.OnFeedback(acks, b.now())
	b.mu.Unlock()
}
