package signaling

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/sfu-project/sfu/sfu"
)

// conn is one client connection. The HTTP handler's goroutine reads and
// dispatches messages (serve); a second goroutine (writeLoop) owns every
// write to the socket. Both end when the connection ends.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	log     *slog.Logger
	out     chan outMsg
	done    chan struct{} // closed when the connection is ending: nothing more is queued
	finish  sync.Once
	written chan struct{}          // closed when writeLoop has returned
	closing atomic.Bool            // a close frame is queued; further input is ignored
	version atomic.Int32           // the protocol version the client joined with; 0 before
	claims  atomic.Pointer[Claims] // the token's, from its verification on (DisconnectRevoked reads it)

	departure atomic.Pointer[string]   // why the connection ends; the first reason stands
	joined    atomic.Pointer[joinedAs] // set by the sfu.Joined event
	// peerCandidates counts the candidates relayed over the current peer
	// connection; a PeerStart starts it again.
	peerCandidates atomic.Int32

	// ice is the joined message's iceServers, stored before the join.
	ice atomic.Pointer[[]ICEServer]

	// sendMu orders a version 2 client's events (sendBatched) and the
	// replies that must follow them (send). Send takes it, under the
	// SFU's room locks, so it is held only for work that cannot wait:
	// encoding and the non-blocking enqueue, never a write to the socket.
	sendMu sync.Mutex
	roster roster // guarded by sendMu

	// Dropping a client that cannot keep up (drop.go).
	dropped  chan struct{} // closed by drop: nothing more is queued or written
	dropDone chan struct{} // closed when drop's goroutine has closed the socket
	dropMu   sync.Mutex    // guards dropping and served; held for no call
	dropping bool          // drop's goroutine was started
	served   bool          // serve is done with the socket: drop starts nothing

	// Used by the reader goroutine only.
	limiter  *rate.Limiter
	refusals int
	session  Session
	// failedNegotiations counts the client's descriptions refused, for
	// logNegotiationFailed.
	failedNegotiations int
	chatLimiter        *rate.Limiter

	// Chat (chat.go). Lock order: chatMu, then sendMu.
	chatMu      sync.Mutex
	chatRoom    string        // the room whose chat c is a member of; guarded by chatMu
	chatHistory []ChatMessage // for joined; guarded by chatMu
	chatReady   bool          // joined was queued; guarded by chatMu
	chatPending []pendingChat // arrived before joined; guarded by chatMu
	// chatSeen are the IDs of the history joined carried, until a newer
	// message arrives: one posted as the history was read can still be
	// on its way. Guarded by chatMu.
	chatSeen map[string]bool
}

type outMsg struct {
	data      []byte
	closeCode int
	closeText string
}

func newConn(s *Server, ws *websocket.Conn) *conn {
	return &conn{
		s: s, ws: ws,
		log:      s.log.With("remote", ws.RemoteAddr().String()),
		out:      make(chan outMsg, s.cfg.SendQueue),
		done:     make(chan struct{}),
		written:  make(chan struct{}),
		dropped:  make(chan struct{}),
		dropDone: make(chan struct{}),
		limiter:  rate.NewLimiter(rate.Limit(s.cfg.RatePerSecond), s.cfg.RateBurst),

		chatLimiter: rate.NewLimiter(rate.Limit(s.cfg.ChatRatePerSecond), s.cfg.ChatBurst),
	}
}

// Send implements sfu.EventSink. It never blocks: a client too slow to
// take its messages is disconnected (drop), and nothing on its way waits
// for the socket: it takes sendMu (see there), queues without waiting,
// and leaves every write and close to other goroutines.
func (c *conn) Send(ev sfu.Event) {
	if c.isDropped() {
		return
	}
	switch ev := ev.(type) {
	case sfu.Joined:
		c.noteJoined(ev)
	case sfu.PeerStart:
		c.peerCandidates.Store(0)
	}
	if c.version.Load() >= 2 {
		c.sendBatched(ev)
	} else {
		c.sendEvent(ev)
	}
	if _, ok := ev.(sfu.Joined); ok {
		c.chatJoined()
	}
}

// sendEvent queues ev as one message.
func (c *conn) sendEvent(ev sfu.Event) {
	var chat []ChatMessage
	if _, ok := ev.(sfu.Joined); ok {
		chat = c.joinedChat()
	}
	data, err := encodeEvent(ev, int(c.version.Load()), c.iceServers(), chat, c.s.cfg.MaxFileBytes)
	if err != nil || data == nil {
		c.log.Error("cannot encode event", "event", fmt.Sprintf("%T", ev), "err", err)
		return
	}
	bye, isBye := ev.(sfu.Bye)
	var code int
	var text string
	if isBye {
		// The reason is recorded before the client can read the bye and
		// close the socket, which would record its own.
		var departure string
		code, text, departure = byeClose(bye.Reason)
		c.depart(departure)
	}
	c.enqueue(outMsg{data: data})
	if isBye {
		c.shutdown(code, text)
	}
}

// enqueue queues m without waiting; a full queue drops the client.
func (c *conn) enqueue(m outMsg) {
	select {
	case <-c.done:
		return
	case <-c.dropped:
		return
	default:
	}
	select {
	case c.out <- m:
	default:
		c.log.Warn("client too slow, dropping it", "queued", len(c.out))
		c.depart(departDropped)
		c.drop(websocket.ClosePolicyViolation, "too slow")
	}
}

// shutdown queues a close frame after whatever is already queued.
func (c *conn) shutdown(code int, text string) {
	if c.closing.Swap(true) {
		return
	}
	c.enqueue(outMsg{closeCode: code, closeText: text})
}

// closeNow closes the connection without waiting for queued messages. It
// waits up to a second for the socket (the write lock, then the write of
// the close frame): it runs on the handler's goroutine before serve, or
// on drop's.
func (c *conn) closeNow(code int, text string) {
	c.closing.Store(true)
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	_ = c.ws.Close()
}

func (c *conn) end() { c.finish.Do(func() { close(c.done) }) }

func (c *conn) writeLoop() {
	defer close(c.written)
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case m := <-c.out:
			if c.isDropped() {
				return // drop's goroutine closes the socket
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if m.closeCode != 0 {
				_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(m.closeCode, m.closeText))
				// Give the client a moment to answer the close, then the
				// reader gives up.
				_ = c.ws.SetReadDeadline(time.Now().Add(2 * time.Second))
				return
			}
			if err := c.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
				_ = c.ws.Close()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				_ = c.ws.Close()
				return
			}
		case <-c.done:
			return
		case <-c.dropped:
			return
		}
	}
}

// serve reads messages until the connection ends, then leaves the room.
func (c *conn) serve() {
	go c.writeLoop()
	defer func() {
		c.endRoster()
		c.stopChat()
		c.end()
		<-c.written
		c.waitDrop()
		_ = c.ws.Close()
		if c.session != nil {
			c.session.Close()
		}
		c.logDeparture()
	}()

	if c.s.cfg.JoinTimeout > 0 {
		t := time.AfterFunc(c.s.cfg.JoinTimeout, c.joinTimedOut)
		defer t.Stop()
	}
	c.ws.SetReadLimit(c.s.cfg.HardLimitBytes)
	extend := func() { _ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongTimeout)) }
	extend()
	c.ws.SetPongHandler(func(string) error {
		if !c.closing.Load() {
			extend()
		}
		return nil
	})
	c.departOnReadError(c.readLoop(extend))
}

// joinTimedOut closes the connection if it has not joined. Sending
// messages (pings) before joining does not postpone it.
func (c *conn) joinTimedOut() {
	if c.joined.Load() != nil || c.closing.Load() {
		return
	}
	c.depart(departJoinTimeout)
	c.s.metrics.JoinTimeouts.Inc()
	c.shutdown(CloseJoinTimeout, closeTextJoinTimeout)
}

// readLoop reads and handles messages until reading fails, and returns
// why. extend renews the read deadline.
func (c *conn) readLoop(extend func()) error {
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		if c.closing.Load() {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			continue
		}
		extend()
		// Every frame counts against the rate, whatever it holds: binary
		// and oversized frames are refused without being parsed, so a flood
		// of them would otherwise be answered forever and never close.
		if !c.limiter.Allow() {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			c.refusals++
			if c.refusals >= c.s.cfg.MaxRefusals {
				c.fatal(CodeRateLimited, "too many messages", "", CloseRateLimited)
				continue
			}
			c.refuse(CodeRateLimited, "too many messages; slow down", "")
			continue
		}
		if kind == websocket.BinaryMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			c.refuse(CodeBinaryUnsupported, "binary frames are not supported; send JSON text", "")
			continue
		}
		data, err := io.ReadAll(io.LimitReader(r, c.s.cfg.MaxMessageBytes+1))
		if err != nil {
			return err
		}
		if int64(len(data)) > c.s.cfg.MaxMessageBytes {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err // over the hard limit: the socket was closed with 1009
			}
			c.refuse(CodeMessageTooLarge, fmt.Sprintf("message over %d bytes", c.s.cfg.MaxMessageBytes), "")
			continue
		}
		c.handle(data)
	}
}

// send queues a reply to the client's own message. For a version 2
// client it goes after any held roster changes, so that a pong tells the
// client it has heard everything that happened before its ping.
func (c *conn) send(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	if c.version.Load() >= 2 {
		c.sendMu.Lock()
		defer c.sendMu.Unlock()
		c.flushRosterLocked()
	}
	c.enqueue(outMsg{data: data})
}

// refuse tells the client a message was refused; the session goes on.
func (c *conn) refuse(code, message, ref string) {
	c.send(errorMsg{Type: "error", Code: code, Message: message, Ref: ref})
}

// fatal refuses a message and closes the connection.
func (c *conn) fatal(code, message, ref string, closeCode int) {
	c.depart(departRefused)
	c.refuse(code, message, ref)
	c.shutdown(closeCode, code)
}

func (c *conn) handle(data []byte) {
	var m inbound
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		c.refuse(CodeBadMessage, "expected a JSON object with a string \"type\"", "")
		return
	}
	switch m.Type {
	case "ping":
		c.send(simpleMsg{Type: "pong"})
		return
	case "join":
		if c.session != nil {
			c.refuse(CodeAlreadyJoined, "this connection has already joined a room", m.Type)
			return
		}
		c.join(&m)
		return
	case "chat":
		c.chat(data, &m)
		return
	case "offer", "answer", "candidate", "mute", "set_layer", "leave", "peer_state", "restart":
	default:
		c.refuse(CodeUnknownType, fmt.Sprintf("unknown message type %q", m.Type), m.Type)
		return
	}
	if c.session == nil {
		c.refuse(CodeNotJoined, "join a room first", m.Type)
		return
	}
	var err error
	switch {
	case m.Target == targetPeer && (m.Type == "offer" || m.Type == "answer" || m.Type == "candidate"):
		err = c.signalPeer(&m)
	case m.Type == "peer_state":
		err = c.reportPeer(&m)
	case (m.Type == "offer" || m.Type == "answer") && strings.TrimSpace(m.SDP) == "":
		// pion's SDP parser accepts an empty description, and pion then
		// changes the signaling state before refusing it, which leaves the
		// connection unable to negotiate again. Never pass one on.
		err = fmt.Errorf("%w: no sdp", sfu.ErrBadSDP)
	case m.Type == "offer":
		err = c.session.HandleOffer(m.SDP, m.Sources)
	case m.Type == "answer":
		err = c.session.HandleAnswer(m.SDP)
	case m.Type == "candidate":
		if m.Candidate == nil {
			err = fmt.Errorf("%w: no candidate", sfu.ErrBadCandidate)
			break
		}
		err = c.session.AddCandidate(sfu.Target(m.Target), *m.Candidate)
	case m.Type == "restart":
		err = c.session.RestartICE(sfu.Target(m.Target))
	case m.Type == "mute":
		err = c.session.SetMuted(m.Kind, m.Muted)
	case m.Type == "set_layer":
		if m.MaxLayer == nil {
			err = fmt.Errorf("%w: maxLayer is required", sfu.ErrBadLayer)
			break
		}
		err = c.session.SetMaxLayer(m.TrackID, *m.MaxLayer)
	case m.Type == "leave":
		c.depart(departLeft)
		c.session.Close()
		c.shutdown(websocket.CloseNormalClosure, "left")
		return
	}
	if err != nil {
		code, msg, closeCode := classify(err)
		if code == CodeBadSDP {
			c.logNegotiationFailed(m.Type, err)
		}
		if closeCode != 0 {
			c.fatal(code, msg, m.Type, closeCode)
			return
		}
		c.refuse(code, msg, m.Type)
	}
}
