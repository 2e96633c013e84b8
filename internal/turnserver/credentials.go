package turnserver

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API's choice, as a MAC
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Credential is a TURN REST API credential
// (draft-uberti-behave-turn-rest-00): the username names its expiry and
// the identity it was issued to, and the password is derived from the
// username with a secret shared by every server that accepts it, so that
// none of them keeps state.
type Credential struct {
	Username string
	Password string
}

// maxIdentity is the longest identity put in a username as is; longer
// ones, or ones with characters outside printable ASCII, are replaced by
// a digest (see usernameIdentity). STUN usernames are at most 509 bytes.
const maxIdentity = 64

// maxUsername bounds the usernames parsed at all.
const maxUsername = 509

// NewCredential returns the credential of identity that expires at
// expiry, under secret.
func NewCredential(secret, identity string, expiry time.Time) Credential {
	username := strconv.FormatInt(expiry.Unix(), 10) + ":" + usernameIdentity(identity)
	return Credential{Username: username, Password: password(secret, username)}
}

// password is base64(HMAC-SHA1(secret, username)).
func password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// usernameIdentity is identity as it goes into a username: as is when it
// is short printable ASCII, else "~" and a digest of it, so that one
// identity always maps to the same name (quotas count by it).
func usernameIdentity(identity string) string {
	if identity != "" && len(identity) <= maxIdentity && printableASCII(identity) && identity[0] != '~' {
		return identity
	}
	sum := sha256.Sum256([]byte(identity))
	return "~" + hex.EncodeToString(sum[:12])
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ParseUsername splits a TURN REST username into its expiry and identity.
// The identity is everything after the first colon and may hold colons.
func ParseUsername(username string) (expiry time.Time, identity string, err error) {
	if len(username) > maxUsername {
		return time.Time{}, "", fmt.Errorf("%w: %d bytes", ErrBadUsername, len(username))
	}
	ts, identity, ok := strings.Cut(username, ":")
	if !ok || identity == "" || ts == "" || len(ts) > 12 {
		return time.Time{}, "", ErrBadUsername
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return time.Time{}, "", ErrBadUsername
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, "", ErrBadUsername
	}
	return time.Unix(secs, 0), identity, nil
}
