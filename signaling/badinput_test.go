package signaling_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// TestBadInput sends one kind of bad input per subtest into a room where
// two healthy clients publish to each other. Each subtest checks the
// abuser gets the error PROTOCOL.md promises (and the close code where the
// session cannot go on), then that the healthy pair still receives video.
// One server and pair are shared so the whole table runs in seconds; a
// subtest that broke the room would fail every later one.
func TestBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	f := &abuseFixture{ts: ts, room: "abuse", pair: newHealthyPair(ctx, t, ts, "abuse")}

	for _, tc := range []struct {
		name string
		run  func(context.Context, *testing.T, *abuseFixture)
	}{
		{"malformed JSON", badMalformedJSON},
		{"JSON not an object with a string type", badNotAnObject},
		{"unknown type", badUnknownType},
		{"message over 64 KiB", badTooLarge},
		{"frame over 1 MiB", badHardLimit},
		{"binary frame", badBinary},
		{"unparsable SDP", badSDP},
		{"SDP that cannot be applied", badSDPUnappliable},
		{"answer without an offer", badAnswerWithoutOffer},
		{"message before join", badBeforeJoin},
		{"second join", badSecondJoin},
		{"unsupported version", badVersion},
		{"mute of an unknown kind", badMuteKind},
		{"missing token", rejectedJoin(func(*testing.T, string) string { return "" }, nil, signaling.CodeInvalidToken, signaling.CloseUnauthorized)},
		{"malformed token", rejectedJoin(func(*testing.T, string) string { return "not.a.jwt" }, nil, signaling.CodeInvalidToken, signaling.CloseUnauthorized)},
		{"expired token", rejectedJoin(func(t *testing.T, id string) string {
			return mintFor(t, signaling.Keys{"test": testSecret}, "test", "abuse", id, time.Now().Add(-2*time.Hour))
		}, nil, signaling.CodeTokenExpired, signaling.CloseUnauthorized)},
		{"forged token", rejectedJoin(func(t *testing.T, id string) string {
			return mintFor(t, signaling.Keys{"test": "not the server's secret, at all"}, "test", "abuse", id, time.Now())
		}, nil, signaling.CodeInvalidToken, signaling.CloseUnauthorized)},
		{"unknown kid", rejectedJoin(func(t *testing.T, id string) string {
			return mintFor(t, signaling.Keys{"stranger": testSecret}, "stranger", "abuse", id, time.Now())
		}, nil, signaling.CodeInvalidToken, signaling.CloseUnauthorized)},
		{"alg none", rejectedJoin(func(t *testing.T, id string) string {
			return handToken(t, jwt.SigningMethodNone, "test", jwt.UnsafeAllowNoneSignatureType, claimsFor(id, "abuse", time.Now()))
		}, nil, signaling.CodeInvalidToken, signaling.CloseUnauthorized)},
		{"wrong room", rejectedJoin(func(t *testing.T, id string) string {
			return mintFor(t, signaling.Keys{"test": testSecret}, "test", "elsewhere", id, time.Now())
		}, ptr("abuse"), signaling.CodeRoomMismatch, signaling.CloseUnauthorized)},
		{"token room over 128 bytes", rejectedJoin(func(t *testing.T, id string) string {
			return handToken(t, jwt.SigningMethodHS256, "test", []byte(testSecret), claimsFor(id, strings.Repeat("r", 129), time.Now()))
		}, nil, signaling.CodeBadRoom, signaling.CloseBadRequest)},
		{"token room with a control character", rejectedJoin(func(t *testing.T, id string) string {
			return handToken(t, jwt.SigningMethodHS256, "test", []byte(testSecret), claimsFor(id, "abuse\x00", time.Now()))
		}, nil, signaling.CodeBadRoom, signaling.CloseBadRequest)},
		{"join room field over 128 bytes", rejectedJoin(func(t *testing.T, id string) string {
			return mintFor(t, signaling.Keys{"test": testSecret}, "test", "abuse", id, time.Now())
		}, ptr(strings.Repeat("r", 129)), signaling.CodeBadRoom, signaling.CloseBadRequest)},
		{"message flood", badFlood},
		{"binary frame flood", badBinaryFlood},
		{"candidate for an unknown target", badCandidateTarget},
		{"end-of-candidates is not an error", endOfCandidates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			tc.run(ctx, t, f)
			f.pair.stillReceiving(t)
		})
	}
}

// TestDeadClientRemoved: a client that stops answering pings is removed
// within PongTimeout, the others are told, and their media goes on.
func TestDeadClientRemoved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const pongTimeout = 500 * time.Millisecond
	ts := newTestServer(t, func(c *signaling.Config) {
		c.PingInterval = 100 * time.Millisecond
		c.PongTimeout = pongTimeout
	})
	pair := newHealthyPair(ctx, t, ts, "dead")

	// A raw socket that joins and then never reads: the server's pings go
	// unanswered, as with a client whose network vanished.
	dead := dialRaw(ctx, t, ts)
	start := time.Now()
	dead.send(map[string]any{"type": "join", "version": 1, "token": mintFor(t, ts.keys, "test", "dead", "dead-client", time.Now())})
	joined, err := pair.a.WaitFor(ctx, func(m loadtest.Message) bool {
		_, ok := m.Joins("dead-client")
		return ok
	})
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := joined.Joins("dead-client")
	for _, c := range []*loadtest.Client{pair.a, pair.b} {
		wctx, cancel := context.WithTimeout(ctx, pongTimeout+2*time.Second)
		_, err := c.WaitFor(wctx, func(m loadtest.Message) bool {
			return m.Leaves(gone.ID)
		})
		cancel()
		if err != nil {
			t.Fatalf("%s was not told the dead client left: %v", c.Self.ID, err)
		}
	}
	t.Logf("dead client removed %v after its last message", time.Since(start).Round(time.Millisecond))
	eventually(t, 2*time.Second, "the dead connection to be dropped", func() bool { return ts.sig.Connections() == 2 })
	pair.stillReceiving(t)
}

func badMalformedJSON(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	for _, frame := range []string{`{"type":"ping"`, `{type: "ping"}`, `not json`, `{"type":"ping"}}`, `{"type":"ping"} {}`, ``, "\xff\xfe"} {
		if err := c.SendRaw(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeBadMessage, "")
	}
	wantPong(ctx, t, c)
	noMoreErrors(t, c)
}

func badNotAnObject(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	for _, frame := range []string{`[]`, `[{"type":"ping"}]`, `"ping"`, `42`, `null`, `true`, `{}`,
		`{"type":42}`, `{"type":null}`, `{"type":""}`, `{"type":["ping"]}`, `{"type":{"t":"ping"}}`, `{"sdp":"x"}`} {
		if err := c.SendRaw(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeBadMessage, "")
	}
	wantPong(ctx, t, c)
	noMoreErrors(t, c)
}

func badUnknownType(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	for _, typ := range []string{"frobnicate", "PING", "pong", "joined", "error", " ping"} {
		if err := c.Send(map[string]string{"type": typ}); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeUnknownType, typ)
	}
	wantPong(ctx, t, c)
	noMoreErrors(t, c)
}

// pingOfSize is a ping message padded to exactly n bytes.
func pingOfSize(n int) []byte {
	const head, tail = `{"type":"ping","pad":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func badTooLarge(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	limit := int(signaling.Default().MaxMessageBytes)
	for _, n := range []int{limit + 1, 512 << 10, 1 << 20} {
		if err := c.SendRaw(websocket.TextMessage, pingOfSize(n)); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeMessageTooLarge, "")
		wantPong(ctx, t, c)
	}
	// Exactly at the limit is fine.
	if err := c.SendRaw(websocket.TextMessage, pingOfSize(limit)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "pong" }); err != nil {
		t.Fatalf("a %d-byte ping was not answered: %v", limit, err)
	}
	noMoreErrors(t, c)
}

func badHardLimit(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	// The write may fail part way: the server stops reading at the header.
	_ = c.SendRaw(websocket.TextMessage, pingOfSize(1<<20+1))
	wantClose(ctx, t, c, websocket.CloseMessageTooBig)
	f.toldLeft(ctx, t, c.Self.ID)
}

func badBinary(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	for _, frame := range [][]byte{[]byte(`{"type":"ping"}`), {}, {0, 1, 2, 0xff}} {
		if err := c.SendRaw(websocket.BinaryMessage, frame); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeBinaryUnsupported, "")
	}
	wantPong(ctx, t, c)
	noMoreErrors(t, c)
}

func badSDP(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	for _, sdp := range []string{"garbage", "", " \r\n", "v=0", "x=0\r\n", "v=0\r\nv=0\r\n", strings.Repeat("a=x\r\n", 1000)} {
		if err := c.Send(map[string]string{"type": "offer", "sdp": sdp}); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeBadSDP, "offer")
	}
	if err := c.Send(map[string]string{"type": "offer"}); err != nil { // no sdp at all
		t.Fatal(err)
	}
	wantError(ctx, t, c, signaling.CodeBadSDP, "offer")
	publishes(ctx, t, f, c)
	noMoreErrors(t, c)
}

// An SDP that parses, but that pion refuses: no ICE credentials, no DTLS
// fingerprint.
const unappliableOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"

func badSDPUnappliable(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	if err := c.Send(map[string]string{"type": "offer", "sdp": unappliableOffer}); err != nil {
		t.Fatal(err)
	}
	wantError(ctx, t, c, signaling.CodeBadSDP, "offer")
	if m := offerPublish(ctx, t, c); m.Type == "error" {
		t.Fatalf("after a refused offer, a good one is refused too: %s", m.Message)
	}
	receivesFrom(t, f.pair.a, c.Self.ID, 10)
	receivesFrom(t, f.pair.b, c.Self.ID, 10)
	noMoreErrors(t, c)
}

func badAnswerWithoutOffer(ctx context.Context, t *testing.T, f *abuseFixture) {
	// Without the subscribe grant the server never offers, so no offer
	// can be outstanding whatever the timing.
	c := f.client(ctx, t, signaling.Grants{Publish: true})
	if err := c.Send(map[string]string{"type": "answer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}); err != nil {
		t.Fatal(err)
	}
	wantError(ctx, t, c, signaling.CodeBadSDP, "answer")
	wantPong(ctx, t, c)
	publishes(ctx, t, f, c)
	noMoreErrors(t, c)
}

func badBeforeJoin(ctx context.Context, t *testing.T, f *abuseFixture) {
	r := dialRaw(ctx, t, f.ts)
	for _, m := range []map[string]any{
		{"type": "offer", "sdp": "v=0"},
		{"type": "answer", "sdp": "v=0"},
		{"type": "candidate", "target": "publisher", "candidate": map[string]string{"candidate": ""}},
		{"type": "mute", "kind": "audio", "muted": true},
		{"type": "leave"},
	} {
		r.send(m)
		r.wantError(signaling.CodeNotJoined, m["type"].(string))
	}
	r.wantPong()
	// The connection may still join.
	r.send(map[string]any{"type": "join", "version": 1, "token": f.ts.token(f.room, allGrants)})
	if m := r.next(); m.Type != "joined" {
		t.Fatalf("got %s, want joined", m.Raw)
	}
}

func badSecondJoin(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	second := mintFor(t, f.ts.keys, "test", f.room, "second-identity", time.Now())
	elsewhere := mintFor(t, f.ts.keys, "test", "elsewhere", "second-identity", time.Now())
	for _, tok := range []string{second, elsewhere, "garbage"} {
		if err := c.Send(map[string]any{"type": "join", "version": 1, "token": tok}); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeAlreadyJoined, "join")
	}
	wantPong(ctx, t, c)
	publishes(ctx, t, f, c)
	noMoreErrors(t, c)
	neverJoined(ctx, t, f, "second-identity")
}

func badVersion(ctx context.Context, t *testing.T, f *abuseFixture) {
	r := dialRaw(ctx, t, f.ts)
	for _, v := range []any{signaling.Version + 1, -1, "1"} {
		r.send(map[string]any{"type": "join", "version": v, "token": f.ts.token(f.room, allGrants)})
		r.wantError(signaling.CodeBadMessage, map[bool]string{true: "", false: "join"}[v == "1"])
	}
	r.wantPong()
}

func badMuteKind(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	for _, kind := range []string{"", "screen", "VIDEO"} {
		if err := c.Send(map[string]any{"type": "mute", "kind": kind, "muted": true}); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeBadMessage, "mute")
	}
	wantPong(ctx, t, c)
	noMoreErrors(t, c)
}

// rejectedJoin is a join that must fail with code and close the socket
// with closeCode, without the intruder ever appearing in the room.
func rejectedJoin(token func(t *testing.T, identity string) string, room *string, code string, closeCode int) func(context.Context, *testing.T, *abuseFixture) {
	return func(ctx context.Context, t *testing.T, f *abuseFixture) {
		identity := fmt.Sprintf("intruder-%d", identitySeq.Add(1))
		r := dialRaw(ctx, t, f.ts)
		join := map[string]any{"type": "join", "version": 1}
		if tok := token(t, identity); tok != "" {
			join["token"] = tok
		}
		if room != nil {
			join["room"] = *room
		}
		r.send(join)
		r.wantError(code, "join")
		r.wantClose(closeCode)
		neverJoined(ctx, t, f, identity)
	}
}

// flood sends n frames as fast as it can and expects the socket closed
// with 4429 after exactly MaxRefusals rate_limited errors.
func flood(ctx context.Context, t *testing.T, f *abuseFixture, kind int, frame []byte) {
	t.Helper()
	c := f.client(ctx, t, allGrants)
	for i := 0; i < 400; i++ {
		if err := c.SendRaw(kind, frame); err != nil {
			break // closed already
		}
	}
	wantClose(ctx, t, c, signaling.CloseRateLimited)
	limited, answered := 0, 0
	for _, m := range c.Messages() {
		switch {
		case m.Type == "error" && m.Code == signaling.CodeRateLimited:
			limited++
		case m.Type == "pong" || (m.Type == "error" && m.Code == signaling.CodeBinaryUnsupported):
			answered++
		case m.Type == "error":
			t.Errorf("unexpected %s", m.Raw)
		}
	}
	t.Logf("%d answered, %d rate limited", answered, limited)
	if want := signaling.Default().MaxRefusals; limited != want {
		t.Errorf("%d rate_limited errors before the close, want %d", limited, want)
	}
	if answered < signaling.Default().RateBurst/2 {
		t.Errorf("only %d of the burst answered", answered)
	}
	f.toldLeft(ctx, t, c.Self.ID)
}

func badFlood(ctx context.Context, t *testing.T, f *abuseFixture) {
	flood(ctx, t, f, websocket.TextMessage, []byte(`{"type":"ping"}`))
}

func badBinaryFlood(ctx context.Context, t *testing.T, f *abuseFixture) {
	flood(ctx, t, f, websocket.BinaryMessage, []byte{0})
}

func badCandidateTarget(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	cand := map[string]any{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
	for _, m := range []map[string]any{
		{"type": "candidate", "target": "sideways", "candidate": cand},
		{"type": "candidate", "target": "", "candidate": cand},
		{"type": "candidate", "candidate": cand},
		{"type": "candidate", "target": "publisher"},
		{"type": "candidate", "target": "publisher", "candidate": nil},
	} {
		if err := c.Send(m); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, c, signaling.CodeBadCandidate, "candidate")
	}
	// Once the description is there, a candidate that does not parse.
	publishes(ctx, t, f, c)
	if err := c.Send(map[string]any{"type": "candidate", "target": "publisher", "candidate": map[string]any{"candidate": "candidate:garbage"}}); err != nil {
		t.Fatal(err)
	}
	wantError(ctx, t, c, signaling.CodeBadCandidate, "candidate")
	wantPong(ctx, t, c)
	noMoreErrors(t, c)
}

// endOfCandidates: browsers end trickle ICE with an empty candidate (the
// web client sends {"candidate": ""} when gathering ends). pion treats it
// as a no-op; it must not produce an error nor harm the connection, on
// either target, before or after the description.
func endOfCandidates(ctx context.Context, t *testing.T, f *abuseFixture) {
	c := f.client(ctx, t, allGrants)
	eoc := []map[string]any{
		{"candidate": ""},
		{"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0},
		{"candidate": "", "sdpMid": "1", "sdpMLineIndex": 1, "usernameFragment": "abcd"},
	}
	sendAll := func(target string) {
		for _, cand := range eoc {
			if err := c.Send(map[string]any{"type": "candidate", "target": target, "candidate": cand}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sendAll("publisher") // before the offer: held until the description is set
	// The pair publishes, so the server offers and c answers before the
	// offer lands in its inbox.
	if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "offer" }); err != nil {
		t.Fatal(err)
	}
	sendAll("subscriber")
	publishes(ctx, t, f, c)
	sendAll("publisher")
	wantPong(ctx, t, c)
	noMoreErrors(t, c)
	receivesFrom(t, c, f.pair.a.Self.ID, 10)
	receivesFrom(t, c, f.pair.b.Self.ID, 10)
}
