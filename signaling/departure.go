package signaling

import (
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/sfu"
)

// Why a connection ended. A joined session's reason is logged at info and
// counted in sfu_ws_departures_total; a connection that never joined is
// logged at debug only.
const (
	departLeft        = "left"         // the client sent leave or closed the socket
	departDropped     = "dropped"      // the connection broke, or the client could not keep up
	departTimedOut    = "timed_out"    // nothing heard from the client for PongTimeout
	departReplaced    = "replaced"     // the same identity joined on another connection
	departRefused     = "refused"      // the server closed it over what the client sent
	departShutdown    = "shutdown"     // the server is shutting down
	departJoinTimeout = "join_timeout" // no join within JoinTimeout (never joined)
)

// joinedAs is who a connection joined as, from its sfu.Joined event.
type joinedAs struct {
	room, participant, identity string
	at                          time.Time
}

// depart records why the connection ends; the first reason given stands.
func (c *conn) depart(reason string) { c.departure.CompareAndSwap(nil, &reason) }

// departOnReadError records why reading ended, unless a reason was given
// before.
func (c *conn) departOnReadError(err error) {
	var ce *websocket.CloseError
	// gorilla hides the deadline error behind its own net.Error.
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		c.depart(departTimedOut)
	case errors.Is(err, websocket.ErrReadLimit):
		c.depart(departRefused)
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		c.depart(departLeft) // 1006 is gorilla's word for a socket that ended without a close frame
	default:
		c.depart(departDropped)
	}
}

// byeClose is the close code and text that follow a bye with reason.
func byeClose(reason string) (code int, text, departure string) {
	if reason == "replaced" {
		return CloseReplaced, closeTextReplaced, departReplaced
	}
	return websocket.CloseGoingAway, reason, departShutdown
}

// noteJoined remembers who the connection joined as, for the departure log.
func (c *conn) noteJoined(j sfu.Joined) {
	c.joined.Store(&joinedAs{room: j.Room, participant: j.Self.ID, identity: j.Self.Identity, at: time.Now()})
	c.s.metrics.Joins.Inc()
}

// logDeparture logs and counts why the connection ended. It runs once, on
// the reader goroutine, when the connection is over.
func (c *conn) logDeparture() {
	reason := departDropped
	if p := c.departure.Load(); p != nil {
		reason = *p
	}
	j := c.joined.Load()
	if c.session == nil || j == nil {
		c.log.Debug("connection closed before joining", "reason", reason)
		return
	}
	c.s.metrics.Departures.WithLabelValues(reason).Inc()
	c.log.Info("participant departed", "reason", reason, "room", j.room, "participant", j.participant,
		"identity", j.identity, "duration", time.Since(j.at).Round(time.Millisecond))
}
