package signaling_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the lines holding every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// lineWith returns the first log line containing every one of parts.
func (b *logBuffer) lineWith(parts ...string) (string, bool) {
lines:
	for _, l := range strings.Split(b.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue lines
			}
		}
		return l, true
	}
	return "", false
}

// TestJoinRefusals joins with each kind of token the policy or the
// revocations refuse, and checks the error and close code the client gets,
// that the refusal is logged with its code, room and (when the signature
// verified) identity, and that no token reaches the log. A revoked
// identity is let in again once its revocation has ended.
func TestJoinRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logBuffer{}
	clock := &fakeClock{t: time.Now()}
	revs := signaling.NewMemoryRevocations(100, clock.now)
	ts := newTestServerWith(t, nil, logs.logger(), signaling.WithRevocations(revs))

	now := time.Now()
	sign := func(identity string, f func(*signaling.Claims)) string {
		c := claimsFor(identity, "vault", now)
		c.ID = "jti-" + identity
		f(&c)
		return handToken(t, jwt.SigningMethodHS256, "test", []byte(testSecret), c)
	}
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	if err := revs.RevokeToken(ctx, "jti-revoked-jti", clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	banUntil := clock.now().Add(10 * time.Minute)
	if err := revs.RevokeIdentity(ctx, "vault", "banned", banUntil); err != nil {
		t.Fatal(err)
	}

	var tokens []string
	for _, tc := range []struct {
		identity string // "" when the signature does not verify
		token    string
		code     string
	}{
		{"expired", sign("expired", func(c *signaling.Claims) { c.IssuedAt, c.ExpiresAt = at(-2*time.Hour), at(-time.Hour) }), signaling.CodeTokenExpired},
		{"forever", sign("forever", func(c *signaling.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
		}), signaling.CodeTokenLifetime},
		{"day-and-more", sign("day-and-more", func(c *signaling.Claims) { c.ExpiresAt = at(24*time.Hour + time.Minute) }), signaling.CodeTokenLifetime},
		{"from-the-future", sign("from-the-future", func(c *signaling.Claims) { c.IssuedAt = at(5 * time.Minute) }), signaling.CodeTokenNotYetValid},
		{"not-before", sign("not-before", func(c *signaling.Claims) { c.NotBefore = at(5 * time.Minute) }), signaling.CodeTokenNotYetValid},
		{"revoked-jti", sign("revoked-jti", func(*signaling.Claims) {}), signaling.CodeTokenRevoked},
		{"banned", sign("banned", func(*signaling.Claims) {}), signaling.CodeTokenRevoked},
		{"", handToken(t, jwt.SigningMethodHS256, "test", []byte("not the server's secret, at all!"), claimsFor("forger", "vault", now)), signaling.CodeInvalidToken},
	} {
		tokens = append(tokens, tc.token)
		r := dialRaw(ctx, t, ts)
		join := map[string]any{"type": "join", "version": 2, "token": tc.token}
		if tc.identity == "" {
			join["room"] = "vault" // the only room the log can give
		}
		r.send(join)
		r.wantError(tc.code, "join")
		r.wantClose(signaling.CloseUnauthorized)

		want := []string{"join refused", "code=" + tc.code, "room=vault", "remote="}
		if tc.identity != "" {
			want = append(want, "identity="+tc.identity, "jti=jti-"+tc.identity)
		}
		var line string
		eventually(t, 5*time.Second, "the refusal to be logged: "+strings.Join(want, " ")+"\n"+logs.String(), func() bool {
			var ok bool
			line, ok = logs.lineWith(want...)
			return ok
		})
		if tc.identity == "" && strings.Contains(line, "identity=") {
			t.Errorf("an identity from a token whose signature failed was logged: %s", line)
		}
	}

	// A valid token for the banned identity, still refused.
	tok, err := ts.keys.Mint("test", signaling.TokenRequest{Room: "vault", Identity: "banned", Grants: allGrants, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokens = append(tokens, tok)
	if _, err := loadtest.Dial(ctx, loadtest.Options{URL: ts.wsURL, Token: tok, LoopbackOnly: true}); err == nil || !strings.Contains(err.Error(), signaling.CodeTokenRevoked) {
		t.Fatalf("banned identity with a fresh token: %v, want %s", err, signaling.CodeTokenRevoked)
	}
	// Elsewhere it is welcome: the ban was for this room.
	elsewhere, err := ts.keys.Mint("test", signaling.TokenRequest{Room: "lobby", Identity: "banned", Grants: allGrants, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadtest.Dial(ctx, loadtest.Options{URL: ts.wsURL, Token: elsewhere, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("banned from vault, refused in lobby: %v", err)
	}
	c.Close()
	// Once the ban is over, the same token gets in.
	clock.advance(time.Until(banUntil) + time.Second)
	c, err = loadtest.Dial(ctx, loadtest.Options{URL: ts.wsURL, Token: tok, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("after the revocation ended: %v", err)
	}
	if c.Self.Identity != "banned" {
		t.Errorf("joined as %+v", c.Self)
	}
	c.Close()

	out := logs.String()
	for _, tok := range tokens {
		if strings.Contains(out, tok) || strings.Contains(out, tok[strings.LastIndex(tok, ".")+1:]) {
			t.Fatalf("a token reached the log:\n%s", out)
		}
	}
}

// TestRevokedSessionDisconnected: revoking a connected identity and
// calling DisconnectRevoked closes that session with token_revoked and
// 4401; the others are told it left and go on.
func TestRevokedSessionDisconnected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	revs := signaling.NewMemoryRevocations(100, time.Now)
	ts := newTestServerWith(t, nil, slog.New(slog.NewTextHandler(&logBuffer{}, nil)), signaling.WithRevocations(revs))
	stays, goes := ts.join(ctx, "room"), ts.join(ctx, "room")
	if n, err := ts.sig.DisconnectRevoked(ctx); n != 0 || err != nil {
		t.Fatalf("nothing revoked: DisconnectRevoked = %d, %v", n, err)
	}
	if err := revs.RevokeIdentity(ctx, "", goes.Self.Identity, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := ts.sig.DisconnectRevoked(ctx); n != 1 || err != nil {
		t.Fatalf("DisconnectRevoked = %d, %v; want 1", n, err)
	}
	wantError(ctx, t, goes, signaling.CodeTokenRevoked, "")
	wantClose(ctx, t, goes, signaling.CloseUnauthorized)
	if _, err := stays.WaitFor(ctx, func(m loadtest.Message) bool { return m.Leaves(goes.Self.ID) }); err != nil {
		t.Fatalf("the other participant was not told: %v", err)
	}
	wantPong(ctx, t, stays)
	noMoreErrors(t, stays)
}

// TestOriginChecked opens real WebSockets with Origin headers, over HTTP
// and over TLS: an https page may not open an http server's socket, nor
// an http page a TLS server's, and a listed origin may.
func TestOriginChecked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := &logBuffer{}
	ts := newTestServerWith(t, func(c *signaling.Config) { c.AllowedOrigins = []string{"https://app.example.com"} }, logs.logger())
	host := strings.TrimPrefix(ts.http.URL, "http://")

	mux := http.NewServeMux()
	mux.Handle("/ws", ts.sig)
	secure := httptest.NewTLSServer(mux)
	defer secure.Close()
	secureHost := strings.TrimPrefix(secure.URL, "https://")

	dial := func(url, origin string) int {
		t.Helper()
		d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := d.DialContext(ctx, url, h)
		if err == nil {
			ws.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil || !errors.Is(err, websocket.ErrBadHandshake) {
			t.Fatalf("dial %s: %v", url, err)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		url, origin string
		want        int
	}{
		{"ws://" + host + "/ws", "", 101},
		{"ws://" + host + "/ws", "http://" + host, 101},
		{"ws://" + host + "/ws", "https://" + host, 403},
		{"ws://" + host + "/ws", "https://app.example.com", 101},
		{"ws://" + host + "/ws", "http://app.example.com", 403},
		{"wss://" + secureHost + "/ws", "https://" + secureHost, 101},
		{"wss://" + secureHost + "/ws", "http://" + secureHost, 403},
		{"wss://" + secureHost + "/ws", "https://evil.example.com", 403},
	} {
		if got := dial(tc.url, tc.origin); got != tc.want {
			t.Errorf("%s with Origin %q: %d, want %d", tc.url, tc.origin, got, tc.want)
		}
	}
	if _, ok := logs.lineWith("origin not allowed", "origin=https://evil.example.com", "tls=true"); !ok {
		t.Errorf("a refused origin was not logged:\n%s", logs)
	}
	secure.CloseClientConnections()
}

// TestOperatorTokenWithoutRoom: a token with the admin grant may name no
// room (for the operator endpoints); it joins no room, with bad_room. A
// token without the grant must name one.
func TestOperatorTokenWithoutRoom(t *testing.T) {
	ts := newTestServer(t, nil)
	now := time.Now()
	if _, err := ts.keys.Mint("test", signaling.TokenRequest{Identity: "user", TTL: time.Hour}, now); !errors.Is(err, signaling.ErrBadRoom) {
		t.Errorf("a room-less token without the admin grant: %v, want ErrBadRoom", err)
	}
	tok, err := ts.keys.Mint("test", signaling.TokenRequest{Identity: "ops", Grants: signaling.Grants{Admin: true}, TTL: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ts.keys.Verify(tok, now); err != nil || c.Room != "" || !c.Grants.Admin {
		t.Fatalf("the operator's token: %+v (%v)", c, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := dialRaw(ctx, t, ts)
	r.send(map[string]any{"type": "join", "version": 2, "token": tok})
	r.wantError(signaling.CodeBadRoom, "join")
	r.wantClose(signaling.CloseBadRequest)
}
