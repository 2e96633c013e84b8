package signaling

// Joining a room, and the logs of refused joins and negotiations.

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sfu-project/sfu/sfu"
)

// loggedNegotiations is how many refused descriptions of one connection
// are logged at info; later ones go to the debug log, so a client that
// sends nothing else cannot fill the operator's log.
const loggedNegotiations = 3

// logNegotiationFailed logs why the client's offer or answer was refused.
func (c *conn) logNegotiationFailed(kind string, err error) {
	c.failedNegotiations++
	level := slog.LevelInfo
	if c.failedNegotiations > loggedNegotiations {
		level = slog.LevelDebug
	}
	attrs := []any{"message", kind, "err", err, "failures", c.failedNegotiations}
	if j := c.joined.Load(); j != nil {
		attrs = append(attrs, "room", j.room, "participant", j.participant, "identity", j.identity)
	}
	c.log.Log(context.Background(), level, "negotiation failed", attrs...)
}

func (c *conn) join(m *inbound) {
	version := m.Version
	if version == 0 {
		version = 1 // a client that names no version speaks the first
	}
	if version < 1 || version > Version {
		c.refuseJoin(m, nil, CodeBadMessage, fmt.Sprintf("protocol version %d is not supported; this server speaks 1 to %d", m.Version, Version), 0)
		return
	}
	claims, err := c.s.keys.verify(m.Token, c.s.now(), c.s.policy)
	if err == nil && claims.Room == "" {
		err = fmt.Errorf("%w: the access token is an operator's, for no room", ErrBadRoom)
	}
	if err == nil {
		// Known before the revocation check, so that DisconnectRevoked,
		// which runs after a revocation is recorded, finds this
		// connection if the check came too early to see it.
		c.claims.Store(claims)
		ctx, cancel := context.WithTimeout(context.Background(), revocationTimeout)
		err = c.s.checkRevoked(ctx, claims)
		cancel()
	}
	if err != nil {
		code, msg, closeCode := c.s.joinRefusal(err)
		if code == CodeInternal {
			c.log.Error("cannot check the access token", "err", err)
		}
		c.refuseJoin(m, claims, code, msg, closeCode)
		return
	}
	if m.Room != nil {
		if err := ValidateRoom(*m.Room); err != nil {
			c.refuseJoin(m, claims, CodeBadRoom, err.Error(), CloseBadRequest)
			return
		}
		if *m.Room != claims.Room {
			c.refuseJoin(m, claims, CodeRoomMismatch, "the access token is for another room", CloseUnauthorized)
			return
		}
	}
	if err := validCodecs(m.Codecs); err != nil {
		c.refuseJoin(m, claims, CodeBadMessage, err.Error(), CloseBadRequest)
		return
	}
	who := sfu.Identity{
		Decodes:  m.Codecs,
		Identity: claims.Subject,
		Name:     claims.Name,
		Grants:   sfu.Grants{Publish: claims.Grants.Publish, Subscribe: claims.Grants.Subscribe, Data: claims.Grants.MaySendData()},
		P2P:      (claims.Grants.P2P == nil || *claims.Grants.P2P) && (m.P2P == nil || *m.P2P),
	}
	c.version.Store(int32(version))
	ice := c.s.iceServersFor(claims.Subject, claims.Room)
	c.ice.Store(&ice)
	c.startChat(claims.Room)
	session, err := c.s.backend.Join(claims.Room, who, c)
	if err != nil {
		c.stopChat()
		code, msg, closeCode := joinFailure(err)
		if code == CodeInternal {
			c.log.Error("join failed", "room", claims.Room, "err", err)
		} else {
			c.log.Debug("join failed for now", "room", claims.Room, "err", err)
		}
		c.refuseJoin(m, claims, code, msg, closeCode)
		return
	}
	c.session = session
}

// refuseJoin refuses a join, closing the connection with closeCode unless
// it is 0, and logs the refusal: the code, the room and, when the token's
// signature verified (claims not nil), its identity. Never the token.
func (c *conn) refuseJoin(m *inbound, claims *Claims, code, message string, closeCode int) {
	attrs := []any{"code", code}
	switch {
	case claims != nil && ValidateRoom(claims.Room) == nil:
		attrs = append(attrs, "room", claims.Room)
	case m.Room != nil && ValidateRoom(*m.Room) == nil:
		attrs = append(attrs, "room", *m.Room)
	}
	if claims != nil {
		attrs = append(attrs, "identity", truncateUTF8(claims.Subject, 200), "jti", truncateUTF8(claims.ID, 64))
	}
	c.log.Info("join refused", attrs...)
	c.claims.Store(nil)
	if closeCode == 0 {
		c.refuse(code, message, m.Type)
		return
	}
	c.fatal(code, message, m.Type, closeCode)
}
