package loadtest

import (
	"sync"
	"time"
)

// ChatMessage is a chat message as the server stamped it.
type ChatMessage struct {
	ID            string `json:"id"`
	ParticipantID string `json:"participantId"`
	Identity      string `json:"identity"`
	Name          string `json:"name"`
	Text          string `json:"text"`
	Time          int64  `json:"time"` // ms since the Unix epoch, the server's clock
	// Arrived is when the client read the message (this machine's clock).
	Arrived time.Time `json:"-"`
}

// At is the server's time of the message.
func (m ChatMessage) At() time.Time { return time.UnixMilli(m.Time) }

// ChatMessage is the chat message m carries, if m is one.
func (m Message) ChatMessage() ChatMessage {
	return ChatMessage{ID: m.ID, ParticipantID: m.ParticipantID, Name: m.Name, Text: m.Text, Time: m.Time,
		Identity: m.Identity}
}

// chatLog keeps the chat messages a client saw, each once.
type chatLog struct {
	mu   sync.Mutex
	seen map[string]bool
	msgs []ChatMessage
}

func (l *chatLog) add(ms ...ChatMessage) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = make(map[string]bool)
	}
	for _, m := range ms {
		if m.ID == "" || l.seen[m.ID] {
			continue
		}
		l.seen[m.ID] = true
		m.Arrived = now
		l.msgs = append(l.msgs, m)
	}
}

// SendChat sends a chat message to the room. The server answers with the
// message stamped (Chat has it then) or an error with ref "chat".
func (c *Client) SendChat(text string) error {
	return c.Send(map[string]string{"type": "chat", "text": text})
}

// Chat returns the chat messages the client has seen, each once, in the
// order they came: the joined message's history, then the room's chat.
func (c *Client) Chat() []ChatMessage {
	c.chat.mu.Lock()
	defer c.chat.mu.Unlock()
	return append([]ChatMessage(nil), c.chat.msgs...)
}
