package signaling_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sfu-project/sfu/signaling"
)

// testSecret is the secret of newTestServer's key "test".
const testSecret = "0123456789abcdef0123456789abcdef"

// handToken signs claims however the test likes, bypassing the checks
// Keys.Mint makes, to build the tokens an attacker or a buggy issuer would.
func handToken(t *testing.T, method jwt.SigningMethod, kid string, key any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimsFor returns valid claims for identity in room around now.
func claimsFor(identity, room string, now time.Time) signaling.Claims {
	return signaling.Claims{
		Name: "Name " + identity, Room: room, Grants: signaling.Grants{Publish: true, Subscribe: true},
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   identity,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
	}
}

// A whole second, so that expiry boundaries are exact (JWT times are seconds).
var tokenNow = time.Unix(1_700_000_000, 0)

func TestTokenRoundTrip(t *testing.T) {
	keys := signaling.Keys{"k1": testSecret, "k2": "fedcba9876543210fedcba9876543210"}
	for _, g := range []signaling.Grants{{}, {Publish: true}, {Subscribe: true}, {Publish: true, Subscribe: true}} {
		tok, err := keys.Mint("k2", signaling.TokenRequest{Room: "Café ☕", Identity: "alice", Name: "Alice", Grants: g, TTL: time.Hour}, tokenNow)
		if err != nil {
			t.Fatal(err)
		}
		c, err := keys.Verify(tok, tokenNow)
		if err != nil {
			t.Fatalf("grants %+v: %v", g, err)
		}
		if c.Subject != "alice" || c.Name != "Alice" || c.Room != "Café ☕" || c.Grants != g {
			t.Errorf("claims = %+v, want alice/Alice/Café ☕/%+v", c, g)
		}
		if !c.ExpiresAt.Equal(tokenNow.Add(time.Hour)) || !c.IssuedAt.Equal(tokenNow) || !c.NotBefore.Equal(tokenNow.Add(-time.Minute)) {
			t.Errorf("times exp=%v iat=%v nbf=%v", c.ExpiresAt, c.IssuedAt, c.NotBefore)
		}
	}
}

func TestTokenExpiryAndNotBefore(t *testing.T) {
	keys := signaling.Keys{"test": testSecret}
	tok, err := keys.Mint("test", signaling.TokenRequest{Room: "r", Identity: "alice", TTL: time.Hour}, tokenNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Duration // after minting
		want error
	}{
		{-time.Minute - time.Second, signaling.ErrInvalidToken}, // before nbf (Mint allows a minute of clock skew)
		{-time.Minute, nil},
		{0, nil},
		{time.Hour - time.Second, nil},
		{time.Hour, signaling.ErrTokenExpired},
		{48 * time.Hour, signaling.ErrTokenExpired},
	} {
		_, err := keys.Verify(tok, tokenNow.Add(tc.at))
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("at mint%+v: err = %v, want %v", tc.at, err, tc.want)
		}
		// Expired is reported as such, never as merely invalid, and the
		// other way round: the server sends different codes.
		if tc.want == signaling.ErrInvalidToken && errors.Is(err, signaling.ErrTokenExpired) {
			t.Errorf("at mint%+v: not-yet-valid token reported as expired", tc.at)
		}
	}
}

func TestTokenVerifyRefuses(t *testing.T) {
	keys := signaling.Keys{"test": testSecret}
	valid := claimsFor("alice", "room", tokenNow)
	with := func(f func(*signaling.Claims)) signaling.Claims {
		c := claimsFor("alice", "room", tokenNow)
		f(&c)
		return c
	}
	hs256 := func(c signaling.Claims) string {
		return handToken(t, jwt.SigningMethodHS256, "test", []byte(testSecret), c)
	}
	good := hs256(valid)
	other := hs256(with(func(c *signaling.Claims) { c.Room = "other" }))
	tampered := strings.Join([]string{strings.Split(good, ".")[0], strings.Split(other, ".")[1], strings.Split(good, ".")[2]}, ".")

	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", signaling.ErrInvalidToken},
		{"not a JWT", "not.a.jwt", signaling.ErrInvalidToken},
		{"garbage", "hello", signaling.ErrInvalidToken},
		{"payload swapped", tampered, signaling.ErrInvalidToken},
		{"signed with another secret", handToken(t, jwt.SigningMethodHS256, "test", []byte("another secret, 32 bytes long..."), valid), signaling.ErrInvalidToken},
		{"unknown kid", handToken(t, jwt.SigningMethodHS256, "stranger", []byte(testSecret), valid), signaling.ErrInvalidToken},
		{"no kid", handToken(t, jwt.SigningMethodHS256, "", []byte(testSecret), valid), signaling.ErrInvalidToken},
		{"alg none", handToken(t, jwt.SigningMethodNone, "test", jwt.UnsafeAllowNoneSignatureType, valid), signaling.ErrInvalidToken},
		{"alg HS384", handToken(t, jwt.SigningMethodHS384, "test", []byte(testSecret), valid), signaling.ErrInvalidToken},
		{"alg HS512", handToken(t, jwt.SigningMethodHS512, "test", []byte(testSecret), valid), signaling.ErrInvalidToken},
		{"no exp", hs256(with(func(c *signaling.Claims) { c.ExpiresAt = nil })), signaling.ErrInvalidToken},
		{"no sub", hs256(with(func(c *signaling.Claims) { c.Subject = "" })), signaling.ErrInvalidToken},
		{"nbf in the future", hs256(with(func(c *signaling.Claims) { c.NotBefore = jwt.NewNumericDate(tokenNow.Add(time.Minute)) })), signaling.ErrInvalidToken},
		{"expired", hs256(with(func(c *signaling.Claims) { c.ExpiresAt = jwt.NewNumericDate(tokenNow.Add(-time.Second)) })), signaling.ErrTokenExpired},
		{"no room", hs256(with(func(c *signaling.Claims) { c.Room = "" })), signaling.ErrBadRoom},
		{"room of 129 bytes", hs256(with(func(c *signaling.Claims) { c.Room = strings.Repeat("r", 129) })), signaling.ErrBadRoom},
		{"room with a control character", hs256(with(func(c *signaling.Claims) { c.Room = "lobby\x1b[2J" })), signaling.ErrBadRoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := keys.Verify(tc.token, tokenNow)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tc.want)
			}
			if c != nil {
				t.Errorf("claims returned with an error: %+v", c)
			}
		})
	}
	if _, err := keys.Verify(good, tokenNow); err != nil {
		t.Fatalf("the hand-made valid token is refused (the table proves nothing): %v", err)
	}
}

func TestMintRefuses(t *testing.T) {
	keys := signaling.Keys{"test": testSecret}
	for _, tc := range []struct {
		name string
		kid  string
		req  signaling.TokenRequest
		want error // nil: any error
	}{
		{"unknown kid", "nope", signaling.TokenRequest{Room: "r", Identity: "a", TTL: time.Hour}, nil},
		{"no identity", "test", signaling.TokenRequest{Room: "r", TTL: time.Hour}, nil},
		{"no room", "test", signaling.TokenRequest{Identity: "a", TTL: time.Hour}, signaling.ErrBadRoom},
		{"room of 129 bytes", "test", signaling.TokenRequest{Room: strings.Repeat("r", 129), Identity: "a", TTL: time.Hour}, signaling.ErrBadRoom},
		{"control character", "test", signaling.TokenRequest{Room: "a\nb", Identity: "a", TTL: time.Hour}, signaling.ErrBadRoom},
	} {
		tok, err := keys.Mint(tc.kid, tc.req, tokenNow)
		if err == nil || tok != "" || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Mint = %q, %v; want an error (%v)", tc.name, tok, err, tc.want)
		}
	}
}

func TestParseKeys(t *testing.T) {
	const s16 = "0123456789abcdef"
	for _, tc := range []struct {
		in   string
		want signaling.Keys // nil: an error
	}{
		{"", nil},
		{" , ,", nil},
		{"k", nil},
		{"k:", nil},
		{":" + s16, nil},
		{"k:0123456789abcde", nil}, // 15 characters
		{"k:" + s16, signaling.Keys{"k": s16}},
		{" a:" + s16 + " , b:" + s16 + "x:y,", signaling.Keys{"a": s16, "b": s16 + "x:y"}},
		{"a:" + s16 + ",b:short", nil},
		{"a:" + s16 + ",a:" + s16 + "2", nil}, // the same key twice: which secret was meant?
	} {
		got, err := signaling.ParseKeys(tc.in)
		switch {
		case tc.want == nil && err == nil:
			t.Errorf("ParseKeys(%q) = %v, want an error", tc.in, got)
		case tc.want == nil && !strings.HasPrefix(err.Error(), "signaling: "):
			t.Errorf("ParseKeys(%q) error %q lacks the package prefix", tc.in, err)
		case tc.want != nil && err != nil:
			t.Errorf("ParseKeys(%q): %v", tc.in, err)
		case tc.want != nil && !equalKeys(got, tc.want):
			t.Errorf("ParseKeys(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func equalKeys(a, b signaling.Keys) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestValidateRoom(t *testing.T) {
	for _, tc := range []struct {
		name string
		room string
		ok   bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"128 bytes", strings.Repeat("a", 128), true},
		{"129 bytes", strings.Repeat("a", 129), false},
		{"128 bytes of multi-byte runes", strings.Repeat("é", 64), true},
		{"130 bytes of multi-byte runes", strings.Repeat("é", 65), false},
		{"invalid UTF-8", "room\xff", false},
		{"truncated rune", "caf\xc3", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"DEL", "a\x7fb", false},
		{"C1 control", "a\u0085b", false},
		{"unicode", "Café ☕ 会议室", true},
		{"spaces and punctuation", "team standup / 2024-01-01", true},
	} {
		err := signaling.ValidateRoom(tc.room)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, signaling.ErrBadRoom)) {
			t.Errorf("%s: ValidateRoom(%q) = %v, want ok=%v", tc.name, tc.room, err, tc.ok)
		}
	}
}

func TestDevTokenHandler(t *testing.T) {
	keys := signaling.Keys{"dev": testSecret}
	h := signaling.DevTokenHandler(keys, "dev", time.Hour)
	get := func(method, query string) (*httptest.ResponseRecorder, map[string]string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/api/token?"+query, nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s ?%s: body %q is not a JSON object: %v", method, query, rec.Body, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		return rec, body
	}

	rec, body := get(http.MethodGet, "room=lobby&name=Ann")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: status %d, body %v", rec.Code, body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	c, err := keys.Verify(body["token"], time.Now())
	if err != nil {
		t.Fatalf("the dev token does not verify: %v", err)
	}
	if c.Room != "lobby" || c.Name != "Ann" || c.Subject != body["identity"] || !strings.HasPrefix(c.Subject, "guest-") ||
		c.Grants != (signaling.Grants{Publish: true, Subscribe: true}) {
		t.Errorf("claims %+v, identity %q", c, body["identity"])
	}
	if _, second := get(http.MethodGet, "room=lobby&name=Ann"); second["identity"] == body["identity"] {
		t.Errorf("two requests got the same identity %q", second["identity"])
	}

	// A long name is cut to at most 64 bytes, on a rune boundary.
	_, body = get(http.MethodGet, "room=lobby&name="+url.QueryEscape(strings.Repeat("€", 30)))
	if c, err := keys.Verify(body["token"], time.Now()); err != nil {
		t.Errorf("long name: %v", err)
	} else if len(c.Name) > 64 || !utf8.ValidString(c.Name) || strings.ContainsRune(c.Name, utf8.RuneError) || !strings.HasPrefix(strings.Repeat("€", 30), c.Name) {
		t.Errorf("long name cut to %q (%d bytes)", c.Name, len(c.Name))
	}

	for _, q := range []string{"", "name=Ann", "room=", "room=" + strings.Repeat("r", 129), "room=a%07b", "room=%ff"} {
		rec, body := get(http.MethodGet, q)
		if rec.Code != http.StatusBadRequest || body["error"] == "" || body["token"] != "" {
			t.Errorf("GET ?%s: status %d, body %v; want 400 with an error", q, rec.Code, body)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec, body := get(m, "room=lobby")
		if rec.Code != http.StatusMethodNotAllowed || body["token"] != "" || rec.Header().Get("Allow") != http.MethodGet {
			t.Errorf("%s: status %d, body %v; want 405", m, rec.Code, body)
		}
	}

	// Misconfigured (unknown key ID): a server error, not a bad request.
	rec = httptest.NewRecorder()
	signaling.DevTokenHandler(keys, "nope", time.Hour).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/token?room=lobby", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("unknown kid: status %d, want 500", rec.Code)
	}
}
