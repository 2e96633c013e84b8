package signaling

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkChatFanout is one chat message through the single-node path
// after its checks: posted to the MemoryChat (history kept), encoded once,
// and queued for each of 50 members of the room (version 2 clients).
func BenchmarkChatFanout(b *testing.B) {
	const members = 50
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := NewServer(Default(), Keys{}, nil, log)
	conns := make([]*conn, members)
	for i := range conns {
		c := &conn{s: s, log: log, out: make(chan outMsg, 16), done: make(chan struct{}), dropped: make(chan struct{})}
		c.version.Store(2)
		c.chatRoom, c.chatReady = "room", true
		s.chatEnter("room", c)
		conns[i] = c
	}
	msg := ChatMessage{ID: "ABCDEFGHIJKLMNOP", ParticipantID: "PA_0123456789", Identity: "ada", Name: "Ada L.",
		Text: "Shall we look at the figures from yesterday's run before we decide?", Time: 1764720000123}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.chat.Post(ctx, "room", msg, s.cfg.ChatHistory); err != nil {
			b.Fatal(err)
		}
		for _, c := range conns {
			<-c.out
		}
	}
}
