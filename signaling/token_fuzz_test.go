package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// checkVerified checks what Verify answered: a refusal is one of the three
// errors conn.join tells apart, and accepted claims name an identity and
// a valid room and have not expired.
func checkVerified(t *testing.T, token string, claims *Claims, err error) {
	if err != nil {
		if claims != nil {
			t.Fatalf("Verify(%q) refused with %v and gave claims", token, err)
		}
		if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrTokenExpired) && !errors.Is(err, ErrBadRoom) {
			t.Fatalf("Verify(%q) refused with %v", token, err)
		}
		if !strings.HasPrefix(err.Error(), "signaling: ") {
			t.Fatalf("Verify(%q): error %q without the package prefix", token, err)
		}
		return
	}
	if claims.Subject == "" || ValidateRoom(claims.Room) != nil || claims.ExpiresAt == nil || !fuzzNow.Before(claims.ExpiresAt.Time) ||
		(claims.NotBefore != nil && fuzzNow.Before(claims.NotBefore.Time)) {
		t.Fatalf("Verify(%q) accepted %+v", token, claims)
	}
	// What was accepted can be minted again, and reads back the same.
	again, err := fuzzKeys.Mint("k1", TokenRequest{Room: claims.Room, Identity: claims.Subject, Name: claims.Name, Grants: claims.Grants, TTL: time.Minute}, fuzzNow)
	if err != nil {
		t.Fatalf("accepted claims %+v cannot be minted: %v", claims, err)
	}
	back, err := fuzzKeys.Verify(again, fuzzNow)
	if err != nil || back.Room != claims.Room || back.Subject != claims.Subject || back.Name != claims.Name || back.Grants != claims.Grants {
		t.Fatalf("claims %+v minted again read back as %+v, %v", claims, back, err)
	}
}

// FuzzVerifyToken gives Verify arbitrary token strings, seeded with valid
// tokens and the usual ways of forging one.
func FuzzVerifyToken(f *testing.F) {
	mint := func(kid, room string, ttl time.Duration) string {
		tok, err := fuzzKeys.Mint(kid, TokenRequest{Room: room, Identity: "alice", Name: "Alice", Grants: Grants{Publish: true}, TTL: ttl}, fuzzNow)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	good := mint("k1", "r", time.Hour)
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	f.Add(good)
	f.Add(mint("k2", "a room with spaces, ünïcödé", time.Minute))
	f.Add(mint("k1", "r", -time.Second))
	f.Add(parts[0] + "." + parts[1] + ".")                                                         // no signature
	f.Add(b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".")                        // alg none
	f.Add(b64([]byte(`{"alg":"HS512","typ":"JWT","kid":"k1"}`)) + "." + parts[1] + "." + parts[2]) // another algorithm
	f.Add(b64([]byte(`{"alg":"HS256","typ":"JWT","kid":"nobody"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(parts[0] + "." + b64([]byte(`{"room":"other","sub":"mallory","exp":9999999999}`)) + "." + parts[2])
	f.Add("")
	f.Add("a.b.c")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := fuzzKeys.Verify(token, fuzzNow)
		checkVerified(t, token, claims, err)
	})
}

// FuzzVerifyClaims signs arbitrary header and claim JSON with a known key,
// so that the checks after the signature are reached: an identity, an
// expiry in the future, not before, the room name. A token Verify calls
// expired has an expiry at or before now (or past what int64 holds).
func FuzzVerifyClaims(f *testing.F) {
	f.Add(`{"alg":"HS256","typ":"JWT","kid":"k1"}`, `{"name":"Alice","room":"r","grants":{"publish":true,"subscribe":true},"sub":"alice","exp":1700003600,"nbf":1699999940,"iat":1700000000}`)
	f.Add(`{"alg":"HS256","kid":"k2"}`, `{"room":"r","sub":"alice","exp":1700000000}`)      // expires now
	f.Add(`{"alg":"HS256","kid":"k1"}`, `{"room":"r","sub":"alice","exp":1.7e9,"nbf":2e9}`) // not yet
	f.Add(`{"alg":"HS256","kid":"k1"}`, `{"room":"r","sub":"","exp":1700003600}`)
	f.Add(`{"alg":"HS256","kid":"k1"}`, `{"room":"r","sub":"alice"}`)
	f.Add(`{"alg":"HS256","kid":"k1"}`, `{"room":"r\u0007","sub":"alice","exp":1700003600}`)
	f.Add(`{"alg":"HS256","kid":"k1"}`, `{"room":"`+strings.Repeat("x", 129)+`","sub":"alice","exp":1700003600}`)
	f.Add(`{"alg":"HS256","kid":"k1"}`, `{"room":["r"],"sub":"alice","exp":"1700003600","grants":"all"}`)
	f.Add(`{"alg":"HS256","kid":["k1"]}`, `{"room":"r","sub":"alice","exp":1700003600}`)
	f.Add(`{"alg":"HS256","kid":"k1"}`, `{"room":"r","sub":"alice","exp":1e400}`)
	f.Add(`{"alg":"HS256","kid":"k1"}`, `null`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		enc := base64.RawURLEncoding
		signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
		var h struct {
			Kid string `json:"kid"`
		}
		_ = json.Unmarshal([]byte(header), &h)
		mac := hmac.New(sha256.New, []byte(fuzzKeys[h.Kid]))
		mac.Write([]byte(signed))
		token := signed + "." + enc.EncodeToString(mac.Sum(nil))
		claims, err := fuzzKeys.Verify(token, fuzzNow)
		checkVerified(t, token, claims, err)
		if errors.Is(err, ErrTokenExpired) {
			var c struct {
				Exp *float64 `json:"exp"`
			}
			// jwt reads an expiry past int64 seconds as one long past.
			if json.Unmarshal([]byte(payload), &c) != nil || c.Exp == nil || (*c.Exp > float64(fuzzNow.Unix()) && *c.Exp < 1<<62) {
				t.Fatalf("claims %s called expired at %d", payload, fuzzNow.Unix())
			}
		}
	})
}

// FuzzValidateRoom checks ValidateRoom against its definition (1 to
// MaxRoomName bytes of UTF-8 without control characters), and that any
// room it accepts goes through a token and back unchanged.
func FuzzValidateRoom(f *testing.F) {
	for _, s := range []string{"r", "team standup", "ünïcödé 会议室 🎥", "", strings.Repeat("x", MaxRoomName), strings.Repeat("é", 65),
		"tab\there", "nul\x00", "\xff\xfe", "del\x7f", "line\u2028sep", "c1\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateRoom(name)
		want := name != "" && len(name) <= MaxRoomName && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsControl) < 0
		if (err == nil) != want {
			t.Fatalf("ValidateRoom(%q) = %v", name, err)
		}
		tok, merr := fuzzKeys.Mint("k1", TokenRequest{Room: name, Identity: "alice", TTL: time.Minute}, fuzzNow)
		if err != nil {
			if !errors.Is(err, ErrBadRoom) || !errors.Is(merr, ErrBadRoom) {
				t.Fatalf("ValidateRoom(%q) = %v, Mint: %v", name, err, merr)
			}
			return
		}
		claims, verr := fuzzKeys.Verify(tok, fuzzNow)
		if merr != nil || verr != nil || claims.Room != name {
			t.Fatalf("room %q: Mint %v, Verify %v, read back %q", name, merr, verr, claims.Room)
		}
	})
}
