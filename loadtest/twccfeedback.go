package loadtest

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/rtp"
)

// twccRecorder keeps a subscriber connection's transport-wide congestion
// control arrivals until the feedback clock sends them (feedback.go).
// Arrivals are recorded on the reading goroutine, under a lock, rather
// than handed to another goroutine through a channel as pion's own TWCC
// sender does: the harness receives tens of thousands of packets a second,
// and that hand-off was its largest single cost per packet.
type twccRecorder struct {
	start time.Time
	extID atomic.Uint32 // the transport-wide sequence number's header extension ID, once negotiated
	mu    sync.Mutex    // guards rec
	rec   *twcc.Recorder
}

func newTWCCRecorder() *twccRecorder {
	return &twccRecorder{start: time.Now(), rec: twcc.NewRecorder(0)}
}

// record records that packet seq of ssrc arrived at at. Arrival times are
// wall-clock times, as the kernel stamps them.
func (t *twccRecorder) record(ssrc uint32, seq uint16, at time.Time) {
	us := (at.UnixNano() - t.start.UnixNano()) / 1000
	t.mu.Lock()
	t.rec.Record(ssrc, seq, us)
	t.mu.Unlock()
}

// recordPacket records the arrival at at of RTP packet b of stream ssrc,
// if it carries a transport-wide sequence number.
func (t *twccRecorder) recordPacket(ssrc uint32, b []byte, at time.Time) {
	if id := t.extID.Load(); id != 0 {
		if v := rtp.HeaderExtension(b, uint8(id)); len(v) >= 2 {
			t.record(ssrc, binary.BigEndian.Uint16(v), at)
		}
	}
}

// feedback returns the feedback for the arrivals since the last call
// (none if nothing arrived).
func (t *twccRecorder) feedback() []rtcp.Packet {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rec.BuildFeedbackPacket()
}

// configureTWCCFeedback negotiates transport-wide congestion control and,
// if rec is not nil, records the arrival of every packet that carries a
// transport-wide sequence number into it; the feedback clock sends the
// feedback.
func configureTWCCFeedback(m *webrtc.MediaEngine, ir *interceptor.Registry, rec *twccRecorder) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return err
		}
	}
	if rec != nil {
		ir.Add(twccRecordFactory{rec})
	}
	return nil
}

type twccRecordFactory struct{ rec *twccRecorder }

func (f twccRecordFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccRecord{rec: f.rec}, nil
}

// twccRecord learns the transport-wide sequence number's extension ID for
// the receiver's own recording (trackInput.arrive), and records the
// packets that pion's track reader reads: each track's first, and all of
// a track whose retransmissions pion merges in.
type twccRecord struct {
	interceptor.NoOp
	rec *twccRecorder
}

func (t *twccRecord) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return reader
	}
	t.rec.extID.Store(uint32(id))
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err == nil {
			t.rec.recordPacket(ssrc, b[:n], time.Now())
		}
		return n, a, err
	})
}
