package signaling

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// MaxRoomName is the longest room name accepted, in bytes.
const MaxRoomName = 128

// Grants are the permissions a token carries.
type Grants struct {
	Publish   bool `json:"publish"`
	Subscribe bool `json:"subscribe"`
	// Admin allows operator endpoints: /debug/rooms/NAME for any room, /debug/pprof/.
	Admin bool `json:"admin,omitempty"`
	// P2P, when false, keeps the participant's calls of two on the SFU
	// (PROTOCOL.md, "Peer to peer for two"); absent allows them.
	P2P *bool `json:"p2p,omitempty"`
	// Data, when false, denies sending chat and application data (the
	// participant still receives them); absent allows it.
	Data *bool `json:"data,omitempty"`
}

// MaySendData reports whether the grants let a participant send chat and
// application data.
func (g Grants) MaySendData() bool { return g.Data == nil || *g.Data }

// Claims are the contents of an access token.
type Claims struct {
	Name   string `json:"name,omitempty"`
	Room   string `json:"room"`
	Grants Grants `json:"grants"`
	jwt.RegisteredClaims
}

// Keys maps API key IDs to their secrets. Tokens name their key in the
// JWT header's kid.
type Keys map[string]string

// ParseKeys reads "key:secret[,key:secret]".
func ParseKeys(s string) (Keys, error) {
	keys := Keys{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, secret, ok := strings.Cut(kv, ":")
		if !ok || k == "" || len(secret) < 16 {
			return nil, fmt.Errorf("signaling: key %q: want key:secret with a secret of at least 16 characters", k)
		}
		// A key given twice would silently keep only the last secret, and
		// tokens signed with the other would fail for no visible reason.
		if _, dup := keys[k]; dup {
			return nil, fmt.Errorf("signaling: key %q given twice", k)
		}
		keys[k] = secret
	}
	if len(keys) == 0 {
		return nil, errors.New("signaling: no keys given")
	}
	return keys, nil
}

// DevKeys returns a single freshly generated key, for development mode.
func DevKeys() Keys {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return Keys{"dev": hex.EncodeToString(b[:])}
}

// TokenRequest is what a token is minted for.
type TokenRequest struct {
	Room     string
	Identity string
	Name     string
	Grants   Grants
	TTL      time.Duration
}

// Mint signs a token with the key kid.
func (k Keys) Mint(kid string, req TokenRequest, now time.Time) (string, error) {
	secret, ok := k[kid]
	if !ok {
		return "", fmt.Errorf("signaling: unknown key %q", kid)
	}
	if err := validateTokenRoom(req.Room, req.Grants); err != nil {
		return "", err
	}
	if req.Identity == "" {
		return "", errors.New("signaling: identity is required")
	}
	claims := Claims{
		Name: req.Name, Room: req.Room, Grants: req.Grants,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        newTokenID(),
			Subject:   req.Identity,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(req.TTL)),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = kid
	return t.SignedString([]byte(secret))
}

// Verify checks a token's signature and times under DefaultTokenPolicy
// and returns its claims.
func (k Keys) Verify(token string, now time.Time) (*Claims, error) {
	return k.VerifyWith(token, now, DefaultTokenPolicy())
}

// VerifyWith checks a token's signature and its times under p, and
// returns its claims.
func (k Keys) VerifyWith(token string, now time.Time, p TokenPolicy) (*Claims, error) {
	claims, err := k.verify(token, now, p)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// verify is VerifyWith, but it returns the claims of a correctly signed
// token even when it refuses it, so that the refusal can be logged with
// the identity it names. The claims are nil when the signature did not
// verify.
func (k Keys) verify(token string, now time.Time, p TokenPolicy) (*Claims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: missing", ErrInvalidToken)
	}
	claims := &Claims{}
	// The library checks the signature only; TokenPolicy checks the times,
	// so that every refusal has its own error.
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		secret, ok := k[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key %q", kid)
		}
		return []byte(secret), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if err := p.check(claims, now); err != nil {
		return claims, err
	}
	if claims.Subject == "" {
		return claims, fmt.Errorf("%w: no identity", ErrInvalidToken)
	}
	if err := validateTokenRoom(claims.Room, claims.Grants); err != nil {
		return claims, err
	}
	return claims, nil
}

// validateTokenRoom checks a token's room: a valid name, or none for an
// operator's token (the admin grant), which opens the operator endpoints
// and joins no room.
func validateTokenRoom(room string, g Grants) error {
	if room == "" && g.Admin {
		return nil
	}
	return ValidateRoom(room)
}

// newTokenID returns a random jti, so that a token can be revoked alone.
func newTokenID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidateRoom checks a room name: 1 to MaxRoomName bytes of UTF-8 with no
// control characters.
func ValidateRoom(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadRoom)
	case len(name) > MaxRoomName:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadRoom, len(name), MaxRoomName)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", ErrBadRoom)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U", ErrBadRoom, r)
		}
	}
	return nil
}
