package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// healthyPair is two clients publishing to each other, which no abuse may
// disturb.
type healthyPair struct{ a, b *loadtest.Client }

func newHealthyPair(ctx context.Context, t *testing.T, ts *testServer, room string) *healthyPair {
	t.Helper()
	p := &healthyPair{a: ts.join(ctx, room), b: ts.join(ctx, room)}
	for _, c := range []*loadtest.Client{p.a, p.b} {
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
	}
	receivesFrom(t, p.a, p.b.Self.ID, 10)
	receivesFrom(t, p.b, p.a.Self.ID, 10)
	return p
}

// stillReceiving checks that both still receive each other's video: the
// frame counts keep increasing.
func (p *healthyPair) stillReceiving(t *testing.T) {
	t.Helper()
	frames := func(rx, tx *loadtest.Client) int {
		v, _ := videoFrom(rx, tx.Self.ID)
		return v.Frames
	}
	a0, b0 := frames(p.a, p.b), frames(p.b, p.a)
	eventually(t, 5*time.Second, "the healthy pair to keep receiving each other's video", func() bool {
		return frames(p.a, p.b) >= a0+10 && frames(p.b, p.a) >= b0+10
	})
}

// abuseFixture is the shared server and room of TestBadInput.
type abuseFixture struct {
	ts   *testServer
	room string
	pair *healthyPair
}

// client joins the room as a full participant that the subtest abuses.
func (f *abuseFixture) client(ctx context.Context, t *testing.T, grants signaling.Grants) *loadtest.Client {
	t.Helper()
	tok, err := f.ts.keys.Mint("test", signaling.TokenRequest{Room: f.room, Identity: fmt.Sprintf("abuser-%d", identitySeq.Add(1)), Grants: grants, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadtest.Dial(ctx, loadtest.Options{URL: f.ts.wsURL, Token: tok, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// toldLeft waits until both healthy clients were told id left.
func (f *abuseFixture) toldLeft(ctx context.Context, t *testing.T, id string) {
	t.Helper()
	for _, c := range []*loadtest.Client{f.pair.a, f.pair.b} {
		if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Leaves(id) }); err != nil {
			t.Fatalf("%s was not told %s left: %v", c.Self.ID, id, err)
		}
	}
}

func wantError(ctx context.Context, t *testing.T, c *loadtest.Client, code, ref string) {
	t.Helper()
	m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" })
	if err != nil {
		t.Fatalf("waiting for error %s: %v", code, err)
	}
	checkError(t, m, code, ref)
}

func checkError(t *testing.T, m loadtest.Message, code, ref string) {
	t.Helper()
	if m.Type != "error" || m.Code != code || m.Ref != ref || m.Message == "" {
		t.Fatalf("got %s; want error %q with ref %q and a message", m.Raw, code, ref)
	}
}

// wantPong proves the session goes on: a ping is still answered. Replies
// come in order, so an error queued before the pong arrived before it.
func wantPong(ctx context.Context, t *testing.T, c *loadtest.Client) {
	t.Helper()
	if err := c.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "pong" }); err != nil {
		t.Fatalf("no pong: %v", err)
	}
}

func wantClose(ctx context.Context, t *testing.T, c *loadtest.Client, code int) {
	t.Helper()
	m, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "close" })
	if err != nil {
		t.Fatalf("waiting for close %d: %v", code, err)
	}
	if m.Code != fmt.Sprint(code) {
		t.Fatalf("closed with %s %q, want %d", m.Code, m.Message, code)
	}
}

// noMoreErrors fails on any error message no wantError has consumed.
func noMoreErrors(t *testing.T, c *loadtest.Client) {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel() // WaitFor still returns a match that already arrived
	for {
		m, err := c.WaitFor(done, func(m loadtest.Message) bool { return m.Type == "error" })
		if err != nil {
			return
		}
		t.Errorf("unexpected %s", m.Raw)
	}
}

func mintFor(t *testing.T, keys signaling.Keys, kid, room, identity string, now time.Time) string {
	t.Helper()
	tok, err := keys.Mint(kid, signaling.TokenRequest{Room: room, Identity: identity, Grants: allGrants, TTL: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ptr[T any](v T) *T { return &v }

// rawClient is a bare WebSocket, for what loadtest.Client will not do:
// join with a bad token and watch the close, or never read at all.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(ctx context.Context, t *testing.T, ts *testServer) *rawClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, ts.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &rawClient{t: t, ws: ws}
}

func (r *rawClient) send(v any) {
	r.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	_ = r.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := r.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		r.t.Fatal(err)
	}
}

// next reads one message; a close arrives as type "close" with its code.
func (r *rawClient) next() loadtest.Message {
	r.t.Helper()
	_ = r.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := r.ws.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return loadtest.Message{Type: "close", Code: fmt.Sprint(ce.Code), Message: ce.Text}
	}
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	m := loadtest.Message{Raw: data}
	if err := json.Unmarshal(data, &m); err != nil {
		r.t.Fatalf("server sent %q: %v", data, err)
	}
	return m
}

func (r *rawClient) wantError(code, ref string) {
	r.t.Helper()
	checkError(r.t, r.next(), code, ref)
}

func (r *rawClient) wantPong() {
	r.t.Helper()
	r.send(map[string]string{"type": "ping"})
	if m := r.next(); m.Type != "pong" {
		r.t.Fatalf("got %s, want pong", m.Raw)
	}
}

func (r *rawClient) wantClose(code int) {
	r.t.Helper()
	if m := r.next(); m.Type != "close" || m.Code != fmt.Sprint(code) {
		r.t.Fatalf("got %s %s %q, want close %d", m.Type, m.Code, m.Raw, code)
	}
}

// publishes checks that c can still publish, and that the pair receives it.
func publishes(ctx context.Context, t *testing.T, f *abuseFixture, c *loadtest.Client) {
	t.Helper()
	if m := offerPublish(ctx, t, c); m.Type != "answer" {
		t.Fatalf("a proper offer was refused: %s", m.Raw)
	}
	receivesFrom(t, f.pair.a, c.Self.ID, 10)
	receivesFrom(t, f.pair.b, c.Self.ID, 10)
}

// offerPublish publishes and returns the server's reply to the offer: an
// answer or an error.
func offerPublish(ctx context.Context, t *testing.T, c *loadtest.Client) loadtest.Message {
	t.Helper()
	if err := c.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	m, err := c.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "answer" || (m.Type == "error" && m.Ref == "offer")
	})
	if err != nil {
		t.Fatalf("no reply to a proper offer: %v", err)
	}
	return m
}

// neverJoined checks the healthy pair never saw identity join.
func neverJoined(ctx context.Context, t *testing.T, f *abuseFixture, identity string) {
	t.Helper()
	wantPong(ctx, t, f.pair.a) // anything queued for a before now has arrived
	for _, m := range f.pair.a.Messages() {
		if _, ok := m.Joins(identity); ok {
			t.Fatalf("%s was let into the room", identity)
		}
	}
}
