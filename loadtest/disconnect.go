package loadtest

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// Disconnect says how a client's connection to the server ended. It is an
// error that matches ErrDisconnected.
type Disconnect struct {
	At time.Time // when the client saw it end
	// Code is the server's WebSocket close code (1001 shutting down, 4409
	// replaced, see signaling/PROTOCOL.md), or 1006 when the connection
	// ended without one: the server died, or the network dropped it.
	Code int
	Text string // the close text
	Bye  string // the reason of a bye message before the close, if any
	// TimedOut is true when nothing came from the server for
	// Options.IdleTimeout (Code is then 1006).
	TimedOut bool
}

// closeNames name the close codes of signaling/PROTOCOL.md for reports.
var closeNames = map[int]string{
	websocket.CloseNormalClosure:     "closed",
	websocket.CloseGoingAway:         "going away",
	websocket.CloseAbnormalClosure:   "dropped",
	websocket.CloseMessageTooBig:     "message too big",
	websocket.CloseInternalServerErr: "server error",
	4400:                             "bad request",
	4401:                             "unauthorized",
	4408:                             "join timeout",
	4409:                             "replaced",
	4429:                             "rate limited",
}

// Reason names the disconnect for a report: the close code and what it
// means, e.g. "1001 going away", "1006 dropped", "1006 timed out", "4409
// replaced".
func (d Disconnect) Reason() string {
	s := strconv.Itoa(d.Code)
	if d.TimedOut {
		s += " timed out"
	} else if name, ok := closeNames[d.Code]; ok {
		s += " " + name
	}
	return s
}

// Final reports whether a client must not rejoin after d, as the web
// client does not: the session was replaced by the same identity joining
// elsewhere (4409, or bye "replaced"), or the server refused the token or
// the room (4401, 4400).
func (d Disconnect) Final() bool {
	return d.Bye == "replaced" || d.Code == 4409 || d.Code == 4401 || d.Code == 4400
}

func (d Disconnect) Error() string { return "loadtest: disconnected: " + d.Reason() }

// Is makes a Disconnect match ErrDisconnected.
func (d Disconnect) Is(target error) bool { return target == ErrDisconnected }

// OnDisconnect sets fn to be told once how the connection to the server
// ended, unless Close ended it. If it has ended already, fn is called at
// once. fn runs on the client's reader goroutine (or the caller's): it
// must not block, nor call Close.
func (c *Client) OnDisconnect(fn func(Disconnect)) {
	c.endMu.Lock()
	ended, d := c.ended, c.disconnect
	if !ended {
		c.onDisconnect = fn
	}
	c.endMu.Unlock()
	if ended && !c.isClosing() {
		fn(d)
	}
}

// disconnected records how the connection ended and tells the OnDisconnect
// function, if any and unless Close ended it. The reader calls it once, as
// it returns.
func (c *Client) disconnected(d Disconnect) {
	c.endMu.Lock()
	c.ended, c.disconnect = true, d
	fn := c.onDisconnect
	c.onDisconnect = nil
	c.endMu.Unlock()
	if fn != nil && !c.isClosing() {
		fn(d)
	}
}

// isClosing reports whether Close has begun.
func (c *Client) isClosing() bool {
	c.wgMu.Lock()
	defer c.wgMu.Unlock()
	return c.closing
}

// keepAlive gives the connection up when nothing, not even a ping, came
// from the server for idle: the read deadline moves on with every message
// (readLoop) and every ping, which it answers as gorilla's own handler
// does.
func (c *Client) keepAlive(idle time.Duration) {
	_ = c.ws.SetReadDeadline(time.Now().Add(idle))
	c.ws.SetPingHandler(func(data string) error {
		_ = c.ws.SetReadDeadline(time.Now().Add(idle))
		// WriteControl may run beside the writers of c.wmu.
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
}
