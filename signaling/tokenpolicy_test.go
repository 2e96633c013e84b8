package signaling_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sfu-project/sfu/signaling"
)

// TestTokenPolicy checks each time a token carries against the lifetime
// cap and the clock skew, with the error each refusal must give.
func TestTokenPolicy(t *testing.T) {
	keys := signaling.Keys{"test": testSecret}
	policy := signaling.TokenPolicy{MaxLifetime: 24 * time.Hour, ClockSkew: time.Minute}
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(tokenNow.Add(d)) }
	times := func(iat, nbf, exp *jwt.NumericDate) signaling.Claims {
		c := claimsFor("alice", "room", tokenNow)
		c.IssuedAt, c.NotBefore, c.ExpiresAt = iat, nbf, exp
		return c
	}
	year2100 := jwt.NewNumericDate(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name   string
		claims signaling.Claims
		policy signaling.TokenPolicy
		want   error // nil: accepted
	}{
		{"an hour", times(at(0), at(-time.Minute), at(time.Hour)), policy, nil},
		{"exactly the maximum", times(at(0), nil, at(24*time.Hour)), policy, nil},
		{"a second over the maximum", times(at(0), nil, at(24*time.Hour+time.Second)), policy, signaling.ErrTokenLifetime},
		{"exp in 2100", times(at(0), nil, year2100), policy, signaling.ErrTokenLifetime},
		{"issued long ago, expiring soon", times(at(-30*time.Hour), nil, at(time.Hour)), policy, signaling.ErrTokenLifetime},
		{"a lower maximum", times(at(0), nil, at(2*time.Hour)), signaling.TokenPolicy{MaxLifetime: time.Hour, ClockSkew: time.Minute}, signaling.ErrTokenLifetime},
		{"no iat, within the maximum from now", times(nil, nil, at(24*time.Hour)), policy, nil},
		{"no iat, over the maximum from now", times(nil, nil, at(24*time.Hour+time.Second)), policy, signaling.ErrTokenLifetime},
		{"no iat, exp in 2100", times(nil, nil, year2100), policy, signaling.ErrTokenLifetime},
		{"iat within the clock skew", times(at(time.Minute), nil, at(time.Hour)), policy, nil},
		{"iat past the clock skew", times(at(time.Minute+time.Second), nil, at(time.Hour)), policy, signaling.ErrTokenNotYetValid},
		{"iat a day ahead", times(at(24*time.Hour), nil, at(25*time.Hour)), policy, signaling.ErrTokenNotYetValid},
		{"iat ahead with no skew allowed", times(at(time.Second), nil, at(time.Hour)), signaling.TokenPolicy{MaxLifetime: time.Hour}, signaling.ErrTokenNotYetValid},
		{"nbf now", times(at(0), at(0), at(time.Hour)), policy, nil},
		{"nbf a second ahead", times(at(0), at(time.Second), at(time.Hour)), policy, signaling.ErrTokenNotYetValid},
		{"expired", times(at(-2*time.Hour), nil, at(-time.Hour)), policy, signaling.ErrTokenExpired},
		{"expired and over the maximum", times(at(-48*time.Hour), nil, at(-time.Second)), policy, signaling.ErrTokenExpired},
		{"no exp", times(at(0), nil, nil), policy, signaling.ErrInvalidToken},
		{"zero policy", times(at(0), nil, at(time.Hour)), signaling.TokenPolicy{}, signaling.ErrTokenLifetime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := handToken(t, jwt.SigningMethodHS256, "test", []byte(testSecret), tc.claims)
			c, err := keys.VerifyWith(tok, tokenNow, tc.policy)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == nil && c.Subject != "alice":
				t.Fatalf("claims %+v", c)
			case tc.want != nil && (!errors.Is(err, tc.want) || c != nil):
				t.Fatalf("VerifyWith = %+v, %v; want %v", c, err, tc.want)
			}
			// Each refusal is told apart: the client gets its own code.
			for _, other := range []error{signaling.ErrTokenExpired, signaling.ErrTokenNotYetValid, signaling.ErrTokenLifetime} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("%v also reads as %v", err, other)
				}
			}
		})
	}
}

// TestVerifyUsesDefaultPolicy: Keys.Verify caps lifetimes at 24 h too.
func TestVerifyUsesDefaultPolicy(t *testing.T) {
	keys := signaling.Keys{"test": testSecret}
	c := claimsFor("alice", "room", tokenNow)
	c.ExpiresAt = jwt.NewNumericDate(tokenNow.Add(25 * time.Hour))
	if _, err := keys.Verify(handToken(t, jwt.SigningMethodHS256, "test", []byte(testSecret), c), tokenNow); !errors.Is(err, signaling.ErrTokenLifetime) {
		t.Errorf("a 25 h token: %v, want %v", err, signaling.ErrTokenLifetime)
	}
	if p := signaling.DefaultTokenPolicy(); p.MaxLifetime != 24*time.Hour || p.ClockSkew != time.Minute {
		t.Errorf("default policy %+v", p)
	}
	if p := signaling.Default().TokenPolicy(); p != signaling.DefaultTokenPolicy() {
		t.Errorf("Default().TokenPolicy() = %+v", p)
	}
}

// TestMintSetsTokenID: every minted token has its own jti, so it can be
// revoked alone.
func TestMintSetsTokenID(t *testing.T) {
	keys := signaling.Keys{"test": testSecret}
	seen := map[string]bool{}
	for range 100 {
		tok, err := keys.Mint("test", signaling.TokenRequest{Room: "r", Identity: "alice", TTL: time.Hour}, tokenNow)
		if err != nil {
			t.Fatal(err)
		}
		c, err := keys.Verify(tok, tokenNow)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.ID) != 32 || seen[c.ID] {
			t.Fatalf("jti %q: want 32 hex digits, never twice", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*signaling.Config)
		ok    bool
	}{
		{"defaults", func(*signaling.Config) {}, true},
		{"no lifetime", func(c *signaling.Config) { c.MaxTokenLifetime = 0 }, false},
		{"negative skew", func(c *signaling.Config) { c.TokenClockSkew = -time.Second }, false},
		{"no skew", func(c *signaling.Config) { c.TokenClockSkew = 0 }, true},
		{"no revocations", func(c *signaling.Config) { c.MaxRevocations = 0 }, false},
		{"origins", func(c *signaling.Config) {
			c.AllowedOrigins = []string{"*", "https://app.example.com", "http://localhost:3000", "HTTPS://[::1]:8443"}
		}, true},
		{"origin with a path", func(c *signaling.Config) { c.AllowedOrigins = []string{"https://app.example.com/"} }, false},
		{"origin without a scheme", func(c *signaling.Config) { c.AllowedOrigins = []string{"app.example.com"} }, false},
		{"origin with a user", func(c *signaling.Config) { c.AllowedOrigins = []string{"https://u@app.example.com"} }, false},
		{"origin with a bad port", func(c *signaling.Config) { c.AllowedOrigins = []string{"https://app.example.com:x"} }, false},
	} {
		c := signaling.Default()
		tc.tweak(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
