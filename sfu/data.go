package sfu

import (
	"strings"
	"sync/atomic"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/internal/datamsg"
)

// Application data: a client opens data channels on its publisher
// connection, "sfu" (ordered, reliable) and "sfu-lossy" (unordered, no
// retransmissions), and sends binary messages in the envelope of
// internal/datamsg: a topic, the recipients (none: everybody else) and a
// payload. The server checks the sender's grant, the size, the topic and
// the sender's rate, writes the sender's participant ID into the
// envelope, and writes it on the channel of the same label of every
// recipient who opened one (signaling/PROTOCOL.md, "Application data").
//
// The path has no lock of ours and no goroutine of its own: a message is
// handled on the pion goroutine that read it from the sender's channel,
// which looks the recipients up in the room's copy-on-write roster
// (dataroster.go) and writes to each of their channels. pion's SCTP
// writes queue and do not block, so a receiver that does not read never
// slows the sender: its queue (BufferedAmount) is bounded per receiver,
// and what does not fit is dropped for that receiver alone.

// The labels of the data channels a client may open.
const (
	DataLabelReliable = "sfu"
	DataLabelLossy    = "sfu-lossy"
)

// The codes of DataError (signaling/PROTOCOL.md's error table).
const (
	DataNotAllowed  = "not_allowed"
	DataTooLarge    = "data_too_large"
	DataBadTopic    = "bad_topic"
	DataBad         = "bad_data"
	DataRateLimited = "rate_limited"
	DataDropped     = "data_dropped"
	DataBadChannel  = "bad_data_channel"
)

// DataError tells a client that application data it sent was refused,
// or dropped for one receiver (Code DataDropped, ParticipantID the
// receiver), or that a data channel it opened was closed
// (DataBadChannel). At most one of each code per second reaches a client.
type DataError struct {
	Code          string
	Message       string
	ParticipantID string
}

func (DataError) isEvent() {}

// reservedTopic is the prefix of the topics the server keeps for itself.
const reservedTopic = "sfu."

// dataPeer is a participant's side of application data: its channels,
// its send rate and the errors it was told.
type dataPeer struct {
	// channels are the open channels by kind (0 reliable, 1 lossy),
	// nil when not open.
	channels [2]atomic.Pointer[dataChan]
	limiter  dataLimiter
	errs     errorThrottle
	// sent counts the bytes written to this participant, which its
	// bandwidth control charges against its video (bandwidthcontrol.go).
	sent atomic.Int64
	// congested is set by bandwidth control when the participant's link
	// has no room for lossy data beside its media, and lossy paces the
	// lossy data to the room there is (datacharge.go).
	congested atomic.Bool
	lossy     lossyPacer
}

// dataChan is an open data channel: a *webrtc.DataChannel, or in
// benchmarks a stand-in.
type dataChan struct {
	dataWriter
}

// dataWriter is what the server does with a client's data channel.
type dataWriter interface {
	Send(b []byte) error
	BufferedAmount() uint64
	Close() error
}

// hasChannel reports whether the participant opened a data channel.
func (d *dataPeer) hasChannel() bool {
	return d.channels[0].Load() != nil || d.channels[1].Load() != nil
}

// dataDelivery is one message on its way to its recipients.
type dataDelivery struct {
	from    string       // the sender's participant ID
	sender  *Participant // nil when it comes from another node
	topic   string
	to      []string // empty: everybody else
	payload []byte   // aliases env
	env     []byte   // the server's envelope, as receivers get it
	lossy   bool
	relayed bool   // from another node: delivered to this node's clients only
	relay   *Relay // the relay it came in on, if relayed
}

// dataMessages are the texts of DataError, fixed so that refusing a
// message formats nothing.
var dataMessages = map[string]string{
	DataNotAllowed:  "the access token does not grant sending data",
	DataTooLarge:    "data message over the size limit",
	DataBadTopic:    "topics starting with \"sfu.\" are reserved",
	DataBad:         "data messages are binary, in the datamsg envelope",
	DataRateLimited: "too much data: messages dropped",
	DataDropped:     "the receiver's queue is full: message not delivered to it",
	DataBadChannel:  "data channel refused: open \"sfu\" or \"sfu-lossy\", once each",
}

// onDataChannel takes a channel the client opened on the publisher
// connection. It runs on a pion goroutine.
func (p *Participant) onDataChannel(dc *webrtc.DataChannel) {
	kind := -1
	switch dc.Label() {
	case DataLabelReliable:
		kind = 0
	case DataLabelLossy:
		kind = 1
	}
	ch := &dataChan{dc}
	if kind < 0 || !p.data.channels[kind].CompareAndSwap(nil, ch) {
		p.dataError(DataBadChannel, "")
		_ = dc.Close()
		return
	}
	lossy := kind == 1
	var buf []byte // the envelope to receivers, reused: pion copies what it sends
	dc.OnMessage(func(m webrtc.DataChannelMessage) { buf = p.onData(m, lossy, buf) })
	dc.OnClose(func() {
		if p.data.channels[kind].CompareAndSwap(ch, nil) {
			p.room.refreshData()
		}
	})
	p.room.refreshData()
}

// onData handles one message from the client and returns the buffer for
// the next. It runs on the channel's pion goroutine, one message at a
// time.
func (p *Participant) onData(m webrtc.DataChannelMessage, lossy bool, buf []byte) []byte {
	met := &p.sfu.metrics.Data
	met.Received.Inc()
	cfg := &p.sfu.cfg.Data
	refuse := func(code string) []byte {
		met.drop(code)
		p.dataError(code, "")
		return buf
	}
	switch {
	case m.IsString:
		return refuse(DataBad)
	case !p.who.Grants.Data:
		return refuse(DataNotAllowed)
	case len(m.Data) > cfg.MaxMessage:
		return refuse(DataTooLarge)
	case !p.data.limiter.allow(p.sfu.now(), len(m.Data), cfg):
		return refuse(DataRateLimited)
	}
	out, err := datamsg.ParseOutgoing(m.Data)
	if err != nil {
		return refuse(DataBad)
	}
	if strings.HasPrefix(out.Topic, reservedTopic) {
		return refuse(DataBadTopic)
	}
	buf = datamsg.AppendDelivered(buf[:0], p.id, out.Topic, out.Payload)
	d := dataDelivery{from: p.id, sender: p, topic: out.Topic, to: out.To, env: buf, lossy: lossy}
	d.payload = buf[len(buf)-len(out.Payload):]
	p.room.routeData(&d)
	return buf
}

// dataError tells the client of a data error, unless one of that code
// was sent less than a second ago.
func (p *Participant) dataError(code, receiver string) {
	if !p.data.errs.allow(p.sfu.now(), code) {
		return
	}
	p.send(DataError{Code: code, Message: dataMessages[code], ParticipantID: receiver})
}

// deliverData writes d on the participant's channel of d's kind, if it
// opened one, unless its queue is too full; it never blocks. It runs on
// the sender's goroutine.
func (p *Participant) deliverData(d *dataDelivery) {
	kind := 0
	if d.lossy {
		kind = 1
	}
	dc := p.data.channels[kind].Load()
	if dc == nil {
		return
	}
	met := &p.sfu.metrics.Data
	cfg := &p.sfu.cfg.Data
	n := len(d.env)
	queued := int(dc.BufferedAmount())
	switch {
	case d.lossy && (p.data.congested.Load() || !p.data.lossy.allow(p.sfu.now(), n)):
		met.drop(dropLossyCongested)
		return
	case d.lossy && queued+n > cfg.LossyBuffered:
		met.drop(dropLossyBuffer)
		return
	case !d.lossy && queued+n > cfg.MaxBuffered:
		met.drop(dropReliableBuffer)
		switch {
		case d.sender != nil:
			d.sender.dataError(DataDropped, p.id)
		case d.relay != nil:
			d.relay.dataDropped(d.from, p.id)
		}
		return
	}
	if err := dc.Send(d.env); err != nil {
		met.drop(dropClosed)
		return
	}
	p.data.sent.Add(int64(n))
	met.Forwarded.Inc()
	met.ForwardedBytes.Add(float64(n))
}

// closeData closes the participant's data channels.
func (p *Participant) closeData() {
	for i := range p.data.channels {
		if dc := p.data.channels[i].Swap(nil); dc != nil {
			_ = dc.Close()
		}
	}
}

// offersMedia reports whether an offer has a media section other than
// data channels' (m=application).
func offersMedia(d *sdp.SessionDescription) bool {
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "application" {
			return true
		}
	}
	return false
}
