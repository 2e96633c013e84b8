package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/internal/datamsg"
)

// Application data across nodes goes on data channels of the relay's
// media connections: each end opens two on the connection it offers
// (pcOut), one reliable and ordered, one unordered without
// retransmissions, and receives the peer's on the connection the peer
// offers (pcIn).
//
// Not over the cluster's bus: the bus carries the relay's control
// messages, in order and none lost, through bounded queues, and a relay
// whose queue overflows is torn down and opened again, media and all. A
// flood of application data there would cost the media of every client
// of the room on both nodes. On a data channel the data has SCTP's
// congestion control and its own bounded queue (BufferedAmount), goes
// straight between the nodes, and a full queue drops data, never a relay.
//
// A frame between nodes is the sender's participant ID (length-prefixed,
// as in datamsg) followed by the client's envelope, recipients included:
// the receiving node delivers to its own clients among them (all of its
// clients when none are listed), and never relays further, so with any
// number of nodes in full mesh a message crosses each link at most once.
// A message to listed recipients goes only to the nodes that serve them
// (the room's roster knows which relay brought each, dataroster.go).

// The labels of the relay's data channels.
const (
	relayDataReliable = "relay-data"
	relayDataLossy    = "relay-data-lossy"
)

// relayDataBuffered bounds what one relay queues on its reliable data
// channel: the data of every sender on this node to every receiver on
// the peer's.
const relayDataBuffered = 4 << 20

// openRelayData opens the data channels on pcOut. It runs before the
// relay's first offer.
func (r *Relay) openRelayData() error {
	var err error
	if r.dataOut[0], err = r.pcOut.CreateDataChannel(relayDataReliable, nil); err != nil {
		return err
	}
	r.dataOut[0].OnOpen(r.flushHeldData)
	ordered, none := false, uint16(0)
	r.dataOut[1], err = r.pcOut.CreateDataChannel(relayDataLossy, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &none})
	if err != nil {
		return err
	}
	r.pcIn.OnDataChannel(r.onRelayDataChannel)
	return nil
}

// wantData has the data channels offered to the peer, once: a relay
// offers its connection when it has a track to send, and also, so that
// data flows in rooms without media, when this node's room has a client
// with a data channel. It does not block.
func (r *Relay) wantData() {
	if r.dataWanted.CompareAndSwap(false, true) {
		r.ops.post(r.negotiate)
	}
}

// relayDataHold keeps the reliable frames sent before the relay's
// reliable data channel opened: a participant on the peer's node is in
// the room's roster (from the cluster's bus) a round before the relay
// has negotiated its channels, and what a client sends it then must
// arrive, in order, like the rest. The hold is bounded like the
// channel's queue; lossy data is not held.
type relayDataHold struct {
	open   atomic.Bool // flushed: frames go straight to the channel; set under mu
	mu     sync.Mutex  // guards the fields below
	frames [][]byte
	bytes  int
}

// hold keeps frame if the channel has not opened yet; it reports false
// when the channel is open (send it), and full when the hold is.
func (h *relayDataHold) hold(frame []byte, limit int) (held, full bool) {
	if h.open.Load() {
		return false, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.open.Load():
		return false, false
	case h.bytes+len(frame) > limit:
		return false, true
	}
	h.frames = append(h.frames, frame)
	h.bytes += len(frame)
	return true, false
}

// flushHeldData sends the held frames once the reliable channel opens,
// before any frame sent after. It runs on a pion goroutine.
func (r *Relay) flushHeldData() {
	h := &r.dataHeld
	h.mu.Lock()
	defer h.mu.Unlock()
	met := &r.sfu.metrics.Data
	for _, frame := range h.frames {
		if err := r.dataOut[0].Send(frame); err != nil {
			met.drop(dropClosed)
			continue
		}
		met.Forwarded.Inc()
		met.ForwardedBytes.Add(float64(len(frame)))
	}
	h.frames, h.bytes = nil, 0
	h.open.Store(true)
}

// forwardData sends d to the peer's node. It runs on the sender's
// goroutine and never blocks: over the queue's bound the message is
// dropped, and a reliable one's sender told (with no receiver named).
func (r *Relay) forwardData(d *dataDelivery) {
	kind, limit := 0, relayDataBuffered
	if d.lossy {
		kind, limit = 1, r.sfu.cfg.Data.LossyBuffered
	}
	dc := r.dataOut[kind]
	met := &r.sfu.metrics.Data
	frame, err := appendRelayFrame(make([]byte, 0, 2+len(d.from)+len(d.env)+16*len(d.to)), d.from, d.topic, d.to, d.payload)
	if err != nil {
		met.drop(DataBad)
		return
	}
	if !d.lossy {
		held, full := r.dataHeld.hold(frame, limit)
		if full {
			r.dropReliable(d)
		}
		if held || full {
			return
		}
	}
	switch {
	case dc.ReadyState() != webrtc.DataChannelStateOpen:
		met.drop(dropClosed)
		return
	case int(dc.BufferedAmount())+len(frame) > limit:
		if d.lossy {
			met.drop(dropLossyBuffer)
		} else {
			r.dropReliable(d)
		}
		return
	}
	if err := dc.Send(frame); err != nil {
		met.drop(dropClosed)
		return
	}
	met.Forwarded.Inc()
	met.ForwardedBytes.Add(float64(len(frame)))
}

// dropReliable drops reliable d, for which the queue toward the peer has
// no room, and tells its sender (with no receiver named).
func (r *Relay) dropReliable(d *dataDelivery) {
	r.sfu.metrics.Data.drop(dropReliableBuffer)
	if d.sender != nil {
		d.sender.dataError(DataDropped, "")
	}
}

// dataDropped tells the peer that a reliable message of its client from
// was dropped for receiver, a client of this node whose queue was full,
// so that the peer tells the sender: at most once a second a sender, as
// the sender's own node tells it at most once a second. A peer of
// version 2 or older does not know the message; its senders are not told.
// It runs on the delivering goroutine.
func (r *Relay) dataDropped(from, receiver string) {
	if !r.dropReports.allow(r.sfu.now(), from) {
		return
	}
	r.ops.post(func() {
		if r.peerV >= 3 {
			r.send(RelayMessage{Kind: RelayDataDropped, ParticipantID: from, Receiver: receiver})
		}
	})
}

// senderDropped tells pid, a client of this node, that its reliable
// message was dropped for receiver on the peer's node. A sender no longer
// here (it left meanwhile) is not told. It runs on run's goroutine.
func (r *Relay) senderDropped(pid, receiver string) {
	if roster := r.room.data.Load(); roster != nil {
		if p := roster.byID[pid]; p != nil {
			p.dataError(DataDropped, receiver)
		}
	}
}

// onRelayDataChannel takes a data channel the peer opened on pcIn. It
// runs on a pion goroutine.
func (r *Relay) onRelayDataChannel(dc *webrtc.DataChannel) {
	var lossy bool
	switch dc.Label() {
	case relayDataReliable:
	case relayDataLossy:
		lossy = true
	default:
		r.log.Warn("unknown relay data channel closed", "label", dc.Label())
		_ = dc.Close()
		return
	}
	var buf []byte
	dc.OnMessage(func(m webrtc.DataChannelMessage) { buf = r.onRelayData(m.Data, lossy, buf) })
}

// onRelayData delivers a frame from the peer to this node's clients
// among its recipients, and returns the buffer for the next. A frame
// that does not parse is dropped: the peer is another node of the
// cluster, whose frames the server made.
func (r *Relay) onRelayData(frame []byte, lossy bool, buf []byte) []byte {
	from, out, err := parseRelayFrame(frame)
	if err != nil {
		r.sfu.metrics.Data.drop(DataBad)
		return buf
	}
	buf = datamsg.AppendDelivered(buf[:0], from, out.Topic, out.Payload)
	d := dataDelivery{from: from, topic: out.Topic, to: out.To, env: buf, lossy: lossy, relayed: true, relay: r}
	d.payload = buf[len(buf)-len(out.Payload):]
	r.room.routeData(&d)
	return buf
}

// appendRelayFrame appends a frame between nodes to dst: the sender's ID
// and the client's envelope.
func appendRelayFrame(dst []byte, from, topic string, to []string, payload []byte) ([]byte, error) {
	if from == "" || len(from) > datamsg.MaxField {
		return dst, datamsg.ErrRecipient
	}
	dst = append(dst, byte(len(from)))
	dst = append(dst, from...)
	return datamsg.AppendOutgoing(dst, topic, to, payload)
}

// parseRelayFrame reads a frame between nodes; the payload aliases frame.
func parseRelayFrame(frame []byte) (string, datamsg.Outgoing, error) {
	if len(frame) < 1 || frame[0] == 0 || len(frame) < 1+int(frame[0]) {
		return "", datamsg.Outgoing{}, datamsg.ErrTruncated
	}
	out, err := datamsg.ParseOutgoing(frame[1+int(frame[0]):])
	if err != nil {
		return "", datamsg.Outgoing{}, err
	}
	return string(frame[1 : 1+int(frame[0])]), out, nil
}
