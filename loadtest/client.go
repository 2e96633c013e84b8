package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Options configure a Client.
type Options struct {
	// URL is the server's WebSocket endpoint, e.g. ws://127.0.0.1:7880/ws.
	URL   string
	Token string
	// LoopbackOnly restricts ICE to 127.0.0.1 (tests and local load runs).
	LoopbackOnly bool
	// GapsFrom, if set, is when the tracks' longest pauses start to be
	// counted (TrackCounts.LongestPacketGap, LongestFrameGap): a pause
	// that ended before it is not.
	GapsFrom time.Time
	// P2P takes part in peer to peer for two (peer.go): the client opens
	// the peer connection the server asks for and sends and shows its
	// peer's media over it while the room is in mode p2p. Without it the
	// client joins with "p2p": false, as a client that does not implement
	// peer to peer must, and its calls of two stay on the SFU.
	P2P bool
	// NoP2P, with P2P, joins with "p2p": false all the same: the client
	// option that keeps its calls on the SFU.
	NoP2P bool
	// P2PIgnored joins without "p2p": false but ignores the server's peer
	// messages, as a client whose peer connection never answers would:
	// the server gives up on the pair after its timeout.
	P2PIgnored bool
	// SubscribeCodec, if set, is the one video codec (a MIME type, e.g.
	// video/VP9) the subscriber connection accepts instead of VP8, as a
	// browser that cannot decode VP8 would: a client that cannot decode
	// what others publish.
	SubscribeCodec string
	// JoinCodecs, if set, is sent in join as the video codecs the client
	// decodes (signaling/PROTOCOL.md, "Codecs"), as the web client does.
	JoinCodecs []string
	// AllowIPs, when not empty, restricts ICE to these local addresses
	// (a client inside a test network namespace, see Lab).
	AllowIPs []net.IP
	// DropIncoming, if set, loses the first arrival of each incoming
	// video packet it returns true for, at the socket, so the SFU has to
	// repair the loss.
	DropIncoming func(seq uint16) bool
	// DropOutgoing likewise drops the first send of outgoing packets, so
	// the SFU must NACK the client.
	DropOutgoing func(seq uint16) bool
	// MaxLayer, if set, is sent as set_layer for every video track
	// received (0 lowest), as a client showing small tiles does.
	MaxLayer *int
	// Observe, if set, sees every RTP packet received, from the SFU and
	// over a peer connection (P2P), with the sending participant's ID and
	// whether it is audio. It runs on the goroutine
	// that decrypts the connection's packets (two at once while a track's
	// first packets are handed over from pion to the socket's reader) and
	// must not block or keep p.
	Observe func(participantID string, audio bool, p *pionrtp.Packet, at time.Time)
	// KeepMessages, if positive, is how many of the latest messages the
	// client keeps for WaitFor and Messages (at least; up to twice as
	// many), and it keeps them without their raw bytes or lists of
	// participants (Joined too). A load run sets it: kept whole, every
	// client's copy of the roster would grow with the square of the room.
	KeepMessages int
	// IdleTimeout, if positive, is how long the client waits for anything
	// from the server, a ping included, before it gives the connection up
	// (Disconnect.TimedOut): the node vanished without closing its TCP
	// connections, or the network between went dark. It must exceed the
	// server's ping interval (5 s by default).
	IdleTimeout time.Duration
	// ICE configures the client's ICE servers and candidate policy (a
	// client behind a firewall that relays everything through TURN).
	ICE ICEOptions
}

// Client is one synthetic participant.
type Client struct {
	opts Options
	ws   *websocket.Conn
	wmu  sync.Mutex // serializes WebSocket writes
	pub  *webrtc.PeerConnection
	sub  *webrtc.PeerConnection

	Self   Participant // set by Dial
	Joined Message     // the joined message

	mux io.Closer // the lossy UDP mux, if any

	videoSender *webrtc.RTPSender // set by Publish, cleared by StopVideo
	videoSource string            // Media.Source, named in the offers while videoSender is set
	rids        *ridTagger
	inbox       *inbox
	recv        *receiver
	peer        *peerSide // nil without Options.P2P
	data        *dataSide // nil before OpenData (data.go)
	pubGate     gate
	subGate     gate
	restarts    iceRestarts
	pending     map[string][]webrtc.ICECandidateInit // remote candidates before the description; reader only
	stop        chan struct{}
	readDone    chan struct{} // closed when readLoop has returned
	// Frames of the sample clip published and skipped (Published).
	published, skipped atomic.Int64
	wg                 sync.WaitGroup
	closeOne           sync.Once
	wgMu               sync.Mutex // orders goTracked's wg.Add before Close's wg.Wait
	closing            bool       // Close has begun: goTracked starts nothing

	bye          string     // the reason of the server's bye; reader only
	endMu        sync.Mutex // guards the fields below
	ended        bool       // the reader has returned
	disconnect   Disconnect // how the connection ended, once ended
	onDisconnect func(Disconnect)
	move         *Move // the server's move, once it came
	onMove       func(Move)
}

// Dial connects, joins, and returns once the server said joined.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, opts.URL, nil)
	if err != nil {
		if resp != nil {
			return nil, &UpgradeError{Status: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("loadtest: dial: %w", err)
	}
	c := &Client{opts: opts, ws: ws, inbox: newInbox(opts.KeepMessages), stop: make(chan struct{}), readDone: make(chan struct{}), pending: map[string][]webrtc.ICECandidateInit{}}
	c.recv = newReceiver(func(pkts []rtcp.Packet) error { return c.sub.WriteRTCP(pkts) })
	c.recv.observe = opts.Observe
	c.recv.gapsFrom = opts.GapsFrom
	c.rids = &ridTagger{}
	pubAPI, subAPI, mux, err := newAPIs(opts, c.rids, c.recv)
	c.mux = mux
	pcConfig := webrtc.Configuration{ICETransportPolicy: opts.ICE.Policy}
	if err == nil {
		c.pub, err = pubAPI.NewPeerConnection(pcConfig)
	}
	if err == nil {
		c.sub, err = subAPI.NewPeerConnection(pcConfig)
	}
	if err != nil {
		_ = ws.Close()
		c.closePCs()
		return nil, err
	}
	clock.join(c.recv)
	c.pub.OnICECandidate(c.onCandidate("publisher", &c.pubGate))
	c.sub.OnICECandidate(c.onCandidate("subscriber", &c.subGate))
	c.sub.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if opts.MaxLayer != nil && t.Kind() == webrtc.RTPCodecTypeVideo {
			_ = c.Send(map[string]any{"type": "set_layer", "trackId": t.ID(), "maxLayer": *opts.MaxLayer})
		}
		tapped := false
		if client, known := dtlsClient(c.sub); known {
			tapped = c.recv.tap.start(r.Transport(), client)
		}
		c.goTracked(func() { c.recv.read(t, r, tapped) })
	})
	c.watchPublisher()
	c.watchSubscriber()
	c.startPeer()
	if opts.IdleTimeout > 0 {
		c.keepAlive(opts.IdleTimeout)
	}
	c.wg.Add(1)
	go c.readLoop()

	join := map[string]any{"type": "join", "version": protocolVersion, "token": opts.Token}
	if opts.NoP2P || !(opts.P2P || opts.P2PIgnored) {
		join["p2p"] = false
	}
	if opts.JoinCodecs != nil {
		join["codecs"] = opts.JoinCodecs
	}
	if err := c.Send(join); err != nil {
		c.Close()
		return nil, err
	}
	m, err := c.WaitFor(ctx, func(m Message) bool { return m.Type == "joined" || m.Type == "error" })
	if errors.Is(err, ErrDisconnected) {
		c.endMu.Lock()
		err = c.disconnect // the reader set it before it closed the inbox
		c.endMu.Unlock()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if m.Type == "error" {
		c.Close()
		return nil, &ServerError{Code: m.Code, Message: m.Message}
	}
	c.Joined = m
	if m.Self != nil {
		c.Self = *m.Self
	}
	return c, nil
}

// protocolVersion is the signaling protocol version the client speaks
// (signaling/PROTOCOL.md): joins and departures come batched in
// participants messages.
const protocolVersion = 2

// Send writes one JSON message.
func (c *Client) Send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.SendRaw(websocket.TextMessage, data)
}

// SendRaw writes one frame as is (tests use it to send bad input).
func (c *Client) SendRaw(kind int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(kind, data)
}

func (c *Client) onCandidate(target string, g *gate) func(*webrtc.ICECandidate) {
	return func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		g.add(cand.ToJSON(), func(init webrtc.ICECandidateInit) {
			_ = c.Send(map[string]any{"type": "candidate", "target": target, "candidate": init})
		})
	}
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.readDone)
	defer c.inbox.close()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			// gorilla reports a connection that ended without a close
			// frame as 1006; a reset or a timeout is not a CloseError.
			d := Disconnect{At: time.Now(), Code: websocket.CloseAbnormalClosure, Text: err.Error(), Bye: c.bye}
			var ce *websocket.CloseError
			var ne net.Error
			if errors.As(err, &ce) {
				c.inbox.put(Message{Type: "close", Code: fmt.Sprint(ce.Code), Message: ce.Text})
				d.Code, d.Text = ce.Code, ce.Text
			} else if errors.As(err, &ne) && ne.Timeout() {
				d.TimedOut = true
			}
			c.disconnected(d)
			return
		}
		if c.opts.IdleTimeout > 0 {
			_ = c.ws.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		m.Raw = data
		c.handle(m)
		if c.opts.KeepMessages > 0 {
			m.Raw, m.Participants, m.Joined, m.Left = nil, nil, nil, nil
		}
		c.inbox.put(m)
	}
}

func (c *Client) handle(m Message) {
	if c.peer.handle(m) || m.Target == "peer" {
		return // for the peer connection (peer.go), if the client opens one
	}
	switch m.Type {
	case "joined":
		if c.opts.ICE.FromJoined {
			c.useICEServers(m.ICEServers)
		}
	case "bye":
		c.bye = m.Reason
	case "restart":
		if m.Target == "publisher" {
			c.goTracked(c.restartPublisher)
		}
	case "move":
		c.moved(Move{At: time.Now(), TimeLeft: time.Duration(m.TimeLeft) * time.Millisecond})
	case "offer":
		if err := c.answerSubscriber(m.SDP); err != nil {
			c.inbox.put(Message{Type: "client_error", Message: err.Error()})
		}
	case "answer":
		if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			c.inbox.put(Message{Type: "client_error", Message: err.Error()})
			return
		}
		c.flush("publisher", c.pub)
	case "candidate":
		if m.Candidate == nil {
			return
		}
		pc := c.pub
		if m.Target == "subscriber" {
			pc = c.sub
		}
		if pc.RemoteDescription() == nil {
			c.pending[m.Target] = append(c.pending[m.Target], *m.Candidate)
			return
		}
		_ = pc.AddICECandidate(*m.Candidate)
	}
}

func (c *Client) flush(target string, pc *webrtc.PeerConnection) {
	for _, cand := range c.pending[target] {
		_ = pc.AddICECandidate(cand)
	}
	delete(c.pending, target)
}

func (c *Client) answerSubscriber(sdp string) error {
	sdp, inactive := reviveInactive(sdp) // see mlines.go
	c.countSubscriberRestart(sdp)
	// A restart offer makes pion gather anew while it answers: those
	// candidates follow the answer.
	c.subGate.close()
	defer c.subGate.release(func(init webrtc.ICECandidateInit) {
		_ = c.Send(map[string]any{"type": "candidate", "target": "subscriber", "candidate": init})
	})
	if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	c.flush("subscriber", c.sub)
	answer, err := c.sub.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.sub.SetLocalDescription(answer); err != nil {
		return err
	}
	return c.Send(map[string]any{"type": "answer", "sdp": keepInactive(answer.SDP, inactive)})
}

// WaitFor returns the first message, received since Dial, that match
// accepts and that no earlier WaitFor call returned.
func (c *Client) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	return c.inbox.waitFor(ctx, match)
}

// Messages returns every message received so far.
func (c *Client) Messages() []Message { return c.inbox.all() }

// Received returns what has arrived from each remote participant.
func (c *Client) Received() map[string]TrackCounts { return c.recv.snapshot() }

// Subscriber is the subscriber PeerConnection (for tests).
func (c *Client) Subscriber() *webrtc.PeerConnection { return c.sub }

// Publisher is the publisher PeerConnection (for tests).
func (c *Client) Publisher() *webrtc.PeerConnection { return c.pub }

// Close leaves abruptly: it closes the socket and both connections
// without saying leave, as a crashed client would.
//
// The connections close only once the reader has stopped: a candidate or
// a description it applied to a closing PeerConnection could start an
// ICE agent or an SRTP session that nothing closes.
func (c *Client) Close() {
	c.closeOne.Do(func() {
		c.wgMu.Lock()
		c.closing = true
		c.wgMu.Unlock()
		c.endMu.Lock()
		c.onDisconnect = nil // it is not the server's doing
		c.onMove = nil
		c.endMu.Unlock()
		clock.leave(c.recv)
		close(c.stop)
		_ = c.ws.Close()
		<-c.readDone
		c.closePCs()
		c.wg.Wait()
	})
}

// goTracked runs fn on a goroutine that Close waits for, unless Close has
// begun: pion fires OnTrack from its own goroutines, which may run while
// the client closes.
func (c *Client) goTracked(fn func()) {
	c.wgMu.Lock()
	defer c.wgMu.Unlock()
	if c.closing {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// Leave says leave and then closes.
func (c *Client) Leave() {
	_ = c.Send(map[string]string{"type": "leave"})
	c.Close()
}

func (c *Client) closePCs() {
	if c.pub != nil {
		_ = c.pub.Close()
	}
	if c.sub != nil {
		_ = c.sub.Close()
	}
	if c.mux != nil {
		_ = c.mux.Close()
	}
}
