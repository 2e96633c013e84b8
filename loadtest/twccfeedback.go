package loadtest

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// twccFeedbackInterval is how often a receiver reports arrivals, as
// browsers do (every 50-100 ms).
const twccFeedbackInterval = 100 * time.Millisecond

// configureTWCCFeedback makes a connection send transport-wide congestion
// control feedback for what it receives, as pion's own TWCC sender does,
// but recording each arrival under a lock on the reading goroutine rather
// than handing it to another goroutine through a channel: the harness
// receives tens of thousands of packets a second, and that hand-off was
// its largest single cost per packet.
func configureTWCCFeedback(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return err
		}
	}
	ir.Add(twccFeedbackFactory{})
	return nil
}

type twccFeedbackFactory struct{}

func (twccFeedbackFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{start: time.Now(), close: make(chan struct{})}, nil
}

type twccFeedback struct {
	interceptor.NoOp
	start time.Time

	mu       sync.Mutex // guards recorder
	recorder *twcc.Recorder

	once      sync.Once
	closeOnce sync.Once
	close     chan struct{}
	wg        sync.WaitGroup
}

// BindRTCPWriter starts the loop that sends feedback.
func (t *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	t.once.Do(func() {
		t.mu.Lock()
		t.recorder = twcc.NewRecorder(0)
		t.mu.Unlock()
		t.wg.Add(1)
		go t.loop(w)
	})
	return w
}

func (t *twccFeedback) loop(w interceptor.RTCPWriter) {
	defer t.wg.Done()
	tick := time.NewTicker(twccFeedbackInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.close:
			return
		case <-tick.C:
			t.mu.Lock()
			pkts := t.recorder.BuildFeedbackPacket()
			t.mu.Unlock()
			if len(pkts) > 0 {
				_, _ = w.Write(pkts, nil)
			}
		}
	}
}

// BindRemoteStream records the arrival of every packet that carries a
// transport-wide sequence number.
func (t *twccFeedback) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return reader
	}
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = make(interceptor.Attributes)
		}
		h, err := a.GetRTPHeader(b[:n])
		if err != nil {
			return n, a, nil
		}
		var ext rtp.TransportCCExtension
		if e := h.GetExtension(id); e != nil && ext.Unmarshal(e) == nil {
			at := time.Since(t.start).Microseconds()
			t.mu.Lock()
			if t.recorder != nil {
				t.recorder.Record(ssrc, ext.TransportSequence, at)
			}
			t.mu.Unlock()
		}
		return n, a, nil
	})
}

// Close stops the feedback loop.
func (t *twccFeedback) Close() error {
	t.closeOnce.Do(func() { close(t.close) })
	t.wg.Wait()
	return nil
}
