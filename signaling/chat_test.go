package signaling_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// chatJoin joins room as a new identity named name with grants.
func chatJoin(ctx context.Context, t *testing.T, ts *testServer, room, name string, grants signaling.Grants) *loadtest.Client {
	t.Helper()
	id := fmt.Sprintf("chatter-%d", identitySeq.Add(1))
	tok, err := ts.keys.Mint("test", signaling.TokenRequest{Room: room, Identity: id, Name: name, Grants: grants, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadtest.Dial(ctx, loadtest.Options{URL: ts.wsURL, Token: tok, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitChat waits until c has seen a chat message with text, and returns it.
func waitChat(ctx context.Context, t *testing.T, c *loadtest.Client, text string) loadtest.ChatMessage {
	t.Helper()
	for {
		for _, m := range c.Chat() {
			if m.Text == text {
				return m
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never saw the chat message %q; saw %+v", c.Self.Name, text, c.Chat())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// chatTexts is the texts of the chat messages c has seen.
func chatTexts(c *loadtest.Client) []string {
	var out []string
	for _, m := range c.Chat() {
		out = append(out, m.Text)
	}
	return out
}

// TestChat checks chat in one room: everybody, the sender included, gets
// each message stamped with the sender's participant ID and name, whatever
// the client claims; a participant without the data grant reads but
// cannot send; bad messages are refused with their codes, and the session
// goes on.
func TestChat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, func(c *signaling.Config) { c.ChatMaxLength = 10 })
	ada := chatJoin(ctx, t, ts, "chat", "Ada", allGrants)
	bob := chatJoin(ctx, t, ts, "chat", "Bob", allGrants)
	reader := chatJoin(ctx, t, ts, "chat", "Reader", signaling.Grants{Subscribe: true, Data: ptr(false)})
	everyone := []*loadtest.Client{ada, bob, reader}

	// A client cannot claim another sender.
	if err := ada.Send(map[string]any{"type": "chat", "text": "hello", "name": "Bob", "participantId": bob.Self.ID,
		"identity": bob.Self.Identity, "id": "forged", "time": 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range everyone {
		m := waitChat(ctx, t, c, "hello")
		if m.ParticipantID != ada.Self.ID || m.Name != "Ada" || m.Identity != ada.Self.Identity || m.ID == "" || m.ID == "forged" {
			t.Errorf("%s got %+v, want it from Ada (%s) with a server id", c.Self.Name, m, ada.Self.ID)
		}
		if d := time.Since(m.At()); d < 0 || d > 10*time.Second {
			t.Errorf("%s got a message stamped %v ago", c.Self.Name, d)
		}
	}
	// Ten characters of two bytes each: the limit counts characters.
	if err := bob.SendChat("éééééééééé"); err != nil {
		t.Fatal(err)
	}
	waitChat(ctx, t, ada, "éééééééééé")

	t.Run("read only", func(t *testing.T) {
		if err := reader.SendChat("may I?"); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, reader, signaling.CodeNotAllowed, "chat")
	})
	refusals := []struct {
		name string
		raw  string
		code string
	}{
		{"empty", `{"type":"chat","text":""}`, signaling.CodeBadChat},
		{"no text", `{"type":"chat"}`, signaling.CodeBadChat},
		{"whitespace", `{"type":"chat","text":" \n\t "}`, signaling.CodeBadChat},
		{"too long", `{"type":"chat","text":"abcdefghijk"}`, signaling.CodeChatTooLong},
		{"invalid UTF-8", "{\"type\":\"chat\",\"text\":\"bad \xff\xfe\"}", signaling.CodeBadChat},
		{"control character", `{"type":"chat","text":"bell\u0007"}`, signaling.CodeBadChat},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			if err := bob.SendRaw(websocket.TextMessage, []byte(r.raw)); err != nil {
				t.Fatal(err)
			}
			wantError(ctx, t, bob, r.code, "chat")
			wantPong(ctx, t, bob)
		})
	}
	// After the refusals, chat goes on; nothing refused reached anyone.
	if err := bob.SendChat("still here"); err != nil {
		t.Fatal(err)
	}
	for _, c := range everyone {
		waitChat(ctx, t, c, "still here")
		if got, want := strings.Join(chatTexts(c), "|"), "hello|éééééééééé|still here"; got != want {
			t.Errorf("%s saw %q, want %q", c.Self.Name, got, want)
		}
	}
	for _, c := range everyone {
		noMoreErrors(t, c)
	}
}

// TestChatHistory checks that a late joiner gets the room's last
// ChatHistory messages in its joined message, oldest first, and that the
// history is the room's own.
func TestChatHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, func(c *signaling.Config) { c.ChatHistory = 3 })
	ada := chatJoin(ctx, t, ts, "history", "Ada", allGrants)
	other := chatJoin(ctx, t, ts, "elsewhere", "Other", allGrants)
	if err := other.SendChat("another room"); err != nil {
		t.Fatal(err)
	}
	waitChat(ctx, t, other, "another room")
	for i := range 5 {
		if err := ada.SendChat(fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitChat(ctx, t, ada, "m4")
	late := chatJoin(ctx, t, ts, "history", "Late", allGrants)
	var got []string
	for _, m := range late.Joined.Chat {
		got = append(got, m.Text)
		if m.ParticipantID != ada.Self.ID || m.Name != "Ada" {
			t.Errorf("history message %+v, want it from Ada", m)
		}
	}
	if strings.Join(got, ",") != "m2,m3,m4" {
		t.Errorf("joined carried %q, want the last three: m2,m3,m4", got)
	}
	// Live messages follow the history, each once.
	if err := ada.SendChat("m5"); err != nil {
		t.Fatal(err)
	}
	waitChat(ctx, t, late, "m5")
	if got := strings.Join(chatTexts(late), ","); got != "m2,m3,m4,m5" {
		t.Errorf("the late joiner saw %q", got)
	}
}

// TestChatFlood checks the per-participant chat rate: a flooder gets
// rate_limited and at most the burst (and what the rate refills) of its
// messages through, while others' chat and media go on.
func TestChatFlood(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t, func(c *signaling.Config) { c.ChatRatePerSecond, c.ChatBurst = 5, 10 })
	pair := newHealthyPair(ctx, t, ts, "flood")
	flooder := chatJoin(ctx, t, ts, "flood", "Flooder", allGrants)
	start := time.Now()
	const sent = 40
	for i := range sent {
		if err := flooder.SendChat(fmt.Sprint("flood ", i)); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	wantError(ctx, t, flooder, signaling.CodeRateLimited, "chat")
	if err := pair.a.SendChat("undisturbed"); err != nil {
		t.Fatal(err)
	}
	waitChat(ctx, t, pair.b, "undisturbed")
	waitChat(ctx, t, flooder, "undisturbed")
	through := 0
	for _, m := range pair.b.Chat() {
		if m.ParticipantID == flooder.Self.ID {
			through++
		}
	}
	if allowed := 10 + int(elapsed.Seconds()*5) + 1; through < 10 || through > allowed {
		t.Errorf("%d of %d flood messages reached others in %v; want the burst of 10, at most %d", through, sent, elapsed, allowed)
	}
	refused := 0
	for _, m := range flooder.Messages() {
		if m.Type == "error" && m.Code == signaling.CodeRateLimited && m.Ref == "chat" {
			refused++
		}
	}
	if refused+through != sent {
		t.Errorf("%d refused and %d through, want every one of %d accounted for", refused, through, sent)
	}
	pair.stillReceiving(t)
}

// TestChatJoinWhilePosting checks the seam between a joiner's history and
// the live messages: people join while another posts steadily, and each
// sees, from joined's history on, every message from the first it has to
// the last, once each, in order.
func TestChatJoinWhilePosting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t, func(c *signaling.Config) {
		c.ChatRatePerSecond, c.ChatBurst, c.ChatHistory = 1e4, 1e4, 5
		c.RatePerSecond, c.RateBurst = 1e4, 1e4
	})
	poster := chatJoin(ctx, t, ts, "seam", "Poster", allGrants)
	const total = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			_ = poster.SendChat(fmt.Sprint(i))
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var joiners []*loadtest.Client
	for i := range 8 {
		time.Sleep(10 * time.Millisecond)
		joiners = append(joiners, chatJoin(ctx, t, ts, "seam", fmt.Sprint("Joiner ", i), allGrants))
	}
	<-done
	last := fmt.Sprint(total - 1)
	for _, c := range joiners {
		waitChat(ctx, t, c, last)
		// Every copy the server sent, history and live, before the
		// client's own deduplication.
		var seen []string
		for _, m := range c.Joined.Chat {
			seen = append(seen, m.Text)
		}
		for _, m := range c.Messages() {
			if m.Type == "chat" {
				seen = append(seen, m.Text)
			}
		}
		if len(seen) == 0 {
			t.Fatalf("%s saw nothing", c.Self.Name)
		}
		var first int
		fmt.Sscan(seen[0], &first)
		for j, s := range seen {
			if s != fmt.Sprint(first+j) {
				t.Errorf("%s saw %v: want %d to %s once each, in order", c.Self.Name, seen, first, last)
				break
			}
		}
	}
}
