package loadtest

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// ridTagger adds the MID and RID header extensions to the packets of each
// simulcast encoding, as browsers do. pion's sender declares the SSRCs
// but does not tag packets, and a receiver needs the tags to tell the
// layers apart.
type ridTagger struct {
	mu   sync.Mutex // guards mid and rids
	mid  string
	rids map[uint32]string // SSRC -> RID
}

// set records the transceiver's MID and the SSRC of each RID.
func (t *ridTagger) set(mid string, rids map[uint32]string) {
	t.mu.Lock()
	t.mid, t.rids = mid, rids
	t.mu.Unlock()
}

func (t *ridTagger) lookup(ssrc uint32) (mid, rid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mid, t.rids[ssrc]
}

func (t *ridTagger) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &ridInterceptor{tagger: t}, nil
}

type ridInterceptor struct {
	interceptor.NoOp
	tagger *ridTagger
}

func (i *ridInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var midID, ridID uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		return writer
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if mid, rid := i.tagger.lookup(h.SSRC); rid != "" {
			_ = h.SetExtension(midID, []byte(mid))
			_ = h.SetExtension(ridID, []byte(rid))
		}
		return writer.Write(h, payload, a)
	})
}
