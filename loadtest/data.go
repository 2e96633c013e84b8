package loadtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/internal/datamsg"
)

// Application data (signaling/PROTOCOL.md, "Application data"): the
// client opens the data channels "sfu" and "sfu-lossy" on its publisher
// connection, sends messages in the datamsg envelope and keeps what it
// receives for tests to wait on.

// DataMessage is application data the client received.
type DataMessage struct {
	From    string // the sender's participant ID, as the server wrote it
	Topic   string
	Payload []byte
	Lossy   bool // it came on the lossy channel
	At      time.Time
}

// DataCounts are the client's application data figures.
type DataCounts struct {
	Sent, SentBytes         int64 // messages and payload bytes sent
	SendFailed              int64 // sends the channel refused
	Received, ReceivedBytes int64 // messages and payload bytes received
	Malformed               int64 // messages received that did not parse
}

// dataKeep bounds the data messages a client keeps for WaitData.
const dataKeep = 10000

// dataSide is the client's data channels and what came on them.
type dataSide struct {
	ch    [2]*webrtc.DataChannel // reliable, lossy; set once by OpenData
	stall atomic.Bool            // the handlers block until Close (StallData)

	sent, sentBytes, sendFailed, received, receivedBytes, malformed atomic.Int64

	mu     sync.Mutex // guards the fields below
	msgs   []DataMessage
	notify chan struct{} // closed and replaced whenever a message arrives
}

// OpenData opens the data channels on the publisher connection, offers
// them to the server (alone: a data-only offer, when the client does not
// publish yet) and waits until both are open. It may be called once,
// before or after Publish, but not at the same time as it.
func (c *Client) OpenData(ctx context.Context) error {
	if c.data != nil {
		return errors.New("loadtest: data channels already open")
	}
	d := &dataSide{notify: make(chan struct{})}
	ordered, none := false, uint16(0)
	inits := [2]*webrtc.DataChannelInit{nil, {Ordered: &ordered, MaxRetransmits: &none}}
	labels := [2]string{"sfu", "sfu-lossy"}
	opened := make(chan struct{}, 2)
	for i := range d.ch {
		dc, err := c.pub.CreateDataChannel(labels[i], inits[i])
		if err != nil {
			return err
		}
		lossy := i == 1
		dc.OnOpen(func() { opened <- struct{}{} })
		dc.OnMessage(func(m webrtc.DataChannelMessage) { c.onData(d, m, lossy) })
		d.ch[i] = dc
	}
	c.data = d
	if err := c.offer(); err != nil {
		return err
	}
	c.pubGate.release(func(init webrtc.ICECandidateInit) {
		_ = c.Send(map[string]any{"type": "candidate", "target": "publisher", "candidate": init})
	})
	for range d.ch {
		select {
		case <-opened:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// DataChannel is the client's channel "sfu" (lossy false) or
// "sfu-lossy", nil before OpenData: for tests that send what SendData
// would not.
func (c *Client) DataChannel(lossy bool) *webrtc.DataChannel {
	if c.data == nil {
		return nil
	}
	if lossy {
		return c.data.ch[1]
	}
	return c.data.ch[0]
}

// SendData sends payload on topic to the participants to (nil:
// everybody else in the room), on the lossy channel or the reliable one.
func (c *Client) SendData(topic string, to []string, payload []byte, lossy bool) error {
	dc := c.DataChannel(lossy)
	if dc == nil {
		return errors.New("loadtest: data channels not open")
	}
	msg, err := datamsg.AppendOutgoing(make([]byte, 0, 4+len(topic)+len(payload)+16*len(to)), topic, to, payload)
	if err != nil {
		return err
	}
	if err := dc.Send(msg); err != nil {
		c.data.sendFailed.Add(1)
		return err
	}
	c.data.sent.Add(1)
	c.data.sentBytes.Add(int64(len(payload)))
	return nil
}

// DataBuffered is what the reliable channel (or the lossy one) holds
// unsent, for a sender that paces itself.
func (c *Client) DataBuffered(lossy bool) uint64 {
	if dc := c.DataChannel(lossy); dc != nil {
		return dc.BufferedAmount()
	}
	return 0
}

// StallData makes the client stop reading its data channels, as a
// receiver that never reads: the message being handled blocks until
// Close, and the server's queue toward the client fills.
func (c *Client) StallData() {
	if c.data != nil {
		c.data.stall.Store(true)
	}
}

// onData keeps a message received. It runs on the channel's goroutine.
func (c *Client) onData(d *dataSide, m webrtc.DataChannelMessage, lossy bool) {
	if d.stall.Load() {
		<-c.stop
		return
	}
	got, err := datamsg.ParseDelivered(m.Data)
	if err != nil || m.IsString {
		d.malformed.Add(1)
		return
	}
	d.received.Add(1)
	d.receivedBytes.Add(int64(len(got.Payload)))
	msg := DataMessage{From: got.From, Topic: got.Topic, Payload: got.Payload, Lossy: lossy, At: time.Now()}
	d.mu.Lock()
	if len(d.msgs) >= 2*dataKeep {
		n := copy(d.msgs, d.msgs[len(d.msgs)-dataKeep:])
		clear(d.msgs[n:])
		d.msgs = d.msgs[:n]
	}
	d.msgs = append(d.msgs, msg)
	close(d.notify)
	d.notify = make(chan struct{})
	d.mu.Unlock()
}

// DataReceived returns the data messages received (the latest 10,000 at
// least).
func (c *Client) DataReceived() []DataMessage {
	if c.data == nil {
		return nil
	}
	c.data.mu.Lock()
	defer c.data.mu.Unlock()
	return append([]DataMessage(nil), c.data.msgs...)
}

// WaitData waits for a data message that match accepts, among those
// received before the call too.
func (c *Client) WaitData(ctx context.Context, match func(DataMessage) bool) (DataMessage, error) {
	if c.data == nil {
		return DataMessage{}, errors.New("loadtest: data channels not open")
	}
	d := c.data
	for {
		d.mu.Lock()
		for _, m := range d.msgs {
			if match(m) {
				d.mu.Unlock()
				return m, nil
			}
		}
		notify := d.notify
		d.mu.Unlock()
		select {
		case <-notify:
		case <-ctx.Done():
			return DataMessage{}, ctx.Err()
		}
	}
}

// DataCounts returns the client's application data figures.
func (c *Client) DataCounts() DataCounts {
	d := c.data
	if d == nil {
		return DataCounts{}
	}
	return DataCounts{
		Sent: d.sent.Load(), SentBytes: d.sentBytes.Load(), SendFailed: d.sendFailed.Load(),
		Received: d.received.Load(), ReceivedBytes: d.receivedBytes.Load(), Malformed: d.malformed.Load(),
	}
}
