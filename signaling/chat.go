package signaling

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Chat (PROTOCOL.md, "Chat"). A client's chat message is checked and
// stamped on its reader goroutine, then posted to the room's ChatLog,
// which keeps the history and delivers the message to every node with
// members in the room, this one included: the sender sees its own
// message when everybody else does, and that echo is its acknowledgement.
// Each server subscribes to a room's chat once, while it has members of
// it, and fans each message out to them.

// chatTimeout bounds posting a client's chat message; chatHistoryTimeout
// bounds reading the history for a join, which goes on without it.
const (
	chatTimeout        = 3 * time.Second
	chatHistoryTimeout = time.Second
)

// chatMsg is the chat message on the wire, both ways: a client sends
// text alone; the server adds everything else.
type chatMsg struct {
	Type string `json:"type"`
	ChatMessage
}

// chatRoom is one room's chat on this server: its members here and the
// subscription that brings the room's messages. Guarded by Server.chatMu.
type chatRoom struct {
	conns       map[*conn]struct{}
	unsubscribe func()
}

// WithChat makes the server keep chat in log (a cluster's shared one)
// instead of a MemoryChat of its own.
func WithChat(log ChatLog) Option { return func(s *Server) { s.chat = log } }

// chatEnter makes c a member of room's chat on this server, subscribing
// to the room if c is its first member here.
func (s *Server) chatEnter(room string, c *conn) {
	s.chatMu.Lock()
	defer s.chatMu.Unlock()
	r := s.chatRooms[room]
	if r == nil {
		r = &chatRoom{conns: make(map[*conn]struct{})}
		s.chatRooms[room] = r
		// The ChatLog never calls deliver from Subscribe, so holding
		// chatMu here is safe; it does call it later, from any goroutine.
		r.unsubscribe = s.chat.Subscribe(room, func(m ChatMessage) { s.deliverChat(room, m) })
	}
	r.conns[c] = struct{}{}
}

// chatLeave ends c's membership of room's chat on this server.
func (s *Server) chatLeave(room string, c *conn) {
	s.chatMu.Lock()
	r := s.chatRooms[room]
	if r == nil {
		s.chatMu.Unlock()
		return
	}
	delete(r.conns, c)
	var unsubscribe func()
	if len(r.conns) == 0 {
		delete(s.chatRooms, room)
		unsubscribe = r.unsubscribe
	}
	s.chatMu.Unlock()
	if unsubscribe != nil {
		unsubscribe()
	}
}

// deliverChat sends m to room's members on this server. It encodes the
// message once for all of them.
func (s *Server) deliverChat(room string, m ChatMessage) {
	data, err := json.Marshal(chatMsg{Type: "chat", ChatMessage: m})
	if err != nil {
		return
	}
	s.chatMu.Lock()
	r := s.chatRooms[room]
	if r == nil {
		s.chatMu.Unlock()
		return
	}
	conns := make([]*conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	s.chatMu.Unlock()
	for _, c := range conns {
		c.deliverChat(m.ID, data)
	}
}

// startChat makes c a member of room's chat and reads the history its
// joined message carries. Subscribing first, then reading, loses nothing
// posted in between; what arrives before joined waits in chatPending.
func (c *conn) startChat(room string) {
	c.s.chatEnter(room, c)
	c.chatMu.Lock()
	c.chatRoom = room
	c.chatMu.Unlock()
	if c.s.cfg.ChatHistory <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), chatHistoryTimeout)
	defer cancel()
	h, err := c.s.chat.History(ctx, room, c.s.cfg.ChatHistory)
	if err != nil {
		c.log.Warn("cannot read the chat history", "room", room, "err", err)
		return
	}
	c.chatMu.Lock()
	c.chatHistory = h
	c.chatMu.Unlock()
}

// stopChat ends c's membership of its room's chat, if it has one.
func (c *conn) stopChat() {
	c.chatMu.Lock()
	room := c.chatRoom
	c.chatRoom = ""
	c.chatReady = false
	c.chatPending, c.chatSeen = nil, nil
	c.chatMu.Unlock()
	if room != "" {
		c.s.chatLeave(room, c)
	}
}

// joinedChat is the history the joined message carries, never nil.
func (c *conn) joinedChat() []ChatMessage {
	c.chatMu.Lock()
	defer c.chatMu.Unlock()
	if c.chatHistory == nil {
		return []ChatMessage{}
	}
	return c.chatHistory
}

// chatJoined runs once joined is queued: the messages that arrived
// before it follow, less those the history already had.
func (c *conn) chatJoined() {
	c.chatMu.Lock()
	defer c.chatMu.Unlock()
	if c.chatRoom == "" {
		return
	}
	c.chatReady = true
	if len(c.chatHistory) > 0 {
		c.chatSeen = make(map[string]bool, len(c.chatHistory))
		for _, m := range c.chatHistory {
			c.chatSeen[m.ID] = true
		}
	}
	for _, p := range c.chatPending {
		c.sendChatLocked(p.id, p.data)
	}
	c.chatPending, c.chatHistory = nil, nil
}

// sendChatLocked sends one chat message unless the history joined
// carried has it. Messages arrive in the order of the history, so the
// first one it does not have ends the check. The caller holds chatMu.
func (c *conn) sendChatLocked(id string, data []byte) {
	if c.chatSeen != nil {
		if c.chatSeen[id] {
			return
		}
		c.chatSeen = nil
	}
	c.sendData(data)
}

// pendingChat is a chat message that arrived before joined was sent.
type pendingChat struct {
	id   string
	data []byte
}

// deliverChat sends one encoded chat message to the client, or holds it
// until joined has been sent. Lock order: chatMu, then sendMu.
func (c *conn) deliverChat(id string, data []byte) {
	c.chatMu.Lock()
	defer c.chatMu.Unlock()
	switch {
	case c.chatRoom == "":
	case !c.chatReady:
		if len(c.chatPending) < max(c.s.cfg.ChatHistory, 100) {
			c.chatPending = append(c.chatPending, pendingChat{id: id, data: data})
		}
	default:
		c.sendChatLocked(id, data)
	}
}

// sendData queues an encoded message after any held roster changes.
func (c *conn) sendData(data []byte) {
	if c.version.Load() >= 2 {
		c.sendMu.Lock()
		defer c.sendMu.Unlock()
		c.flushRosterLocked()
	}
	c.enqueue(outMsg{data: data})
}

// chat handles a client's chat message; raw is its frame as received.
func (c *conn) chat(raw []byte, m *inbound) {
	j := c.joined.Load()
	claims := c.claims.Load()
	if c.session == nil || j == nil || claims == nil {
		c.refuse(CodeNotJoined, "join a room first", m.Type)
		return
	}
	if !claims.Grants.MaySendData() {
		c.refuse(CodeNotAllowed, "your access token does not allow sending chat messages", m.Type)
		return
	}
	if !c.chatLimiter.Allow() {
		c.refuse(CodeRateLimited, "too many chat messages; slow down", m.Type)
		return
	}
	if code, why := c.checkChat(raw, m.Text); code != "" {
		c.refuse(code, why, m.Type)
		return
	}
	msg := ChatMessage{ID: newChatID(), ParticipantID: j.participant, Identity: j.identity, Name: claims.Name,
		Text: m.Text, Time: c.s.now().UnixMilli()}
	ctx, cancel := context.WithTimeout(context.Background(), chatTimeout)
	defer cancel()
	if err := c.s.chat.Post(ctx, j.room, msg, c.s.cfg.ChatHistory); err != nil {
		c.log.Warn("cannot post a chat message", "room", j.room, "err", err)
		c.refuse(CodeUnavailable, "the chat is unavailable right now; try again", m.Type)
	}
}

// checkChat returns the error code and message for a chat text that is
// refused, "" for one that is accepted. raw is checked for UTF-8 because
// encoding/json replaces invalid bytes with U+FFFD without a word.
func (c *conn) checkChat(raw []byte, text string) (code, why string) {
	if !utf8.Valid(raw) {
		return CodeBadChat, "the message is not valid UTF-8"
	}
	if strings.TrimSpace(text) == "" {
		return CodeBadChat, "the chat message is empty"
	}
	if n := utf8.RuneCountInString(text); n > c.s.cfg.ChatMaxLength {
		return CodeChatTooLong, fmt.Sprintf("the chat message has %d characters; at most %d are allowed", n, c.s.cfg.ChatMaxLength)
	}
	for _, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return CodeBadChat, "the chat message holds a control character"
		}
	}
	return "", ""
}

// newChatID returns a random message ID.
func newChatID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}
