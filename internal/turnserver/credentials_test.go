package turnserver

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API's MAC
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestCredential: the password is base64(HMAC-SHA1(secret, username)),
// as coturn's use-auth-secret checks it, and the username parses back.
func TestCredential(t *testing.T) {
	expiry := time.Unix(1767225600, 0)
	c := NewCredential("the-shared-secret", "alice", expiry)
	if c.Username != "1767225600:alice" {
		t.Errorf("username %q", c.Username)
	}
	mac := hmac.New(sha1.New, []byte("the-shared-secret"))
	mac.Write([]byte(c.Username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); c.Password != want {
		t.Errorf("password %q, want %q", c.Password, want)
	}
	for _, id := range []string{"bob:with:colons", strings.Repeat("x", 500), "émile", "two words", "~tilde", ""} {
		c := NewCredential("s", id, expiry)
		exp, got, err := ParseUsername(c.Username)
		if err != nil || !exp.Equal(expiry) || got != usernameIdentity(id) {
			t.Errorf("identity %q: username %q parses to %v %q %v", id, c.Username, exp, got, err)
		}
		if len(c.Username) > 100 {
			t.Errorf("identity %q: username of %d bytes", id, len(c.Username))
		}
	}
	if usernameIdentity("émile") != usernameIdentity("émile") || usernameIdentity("émile") == usernameIdentity("emile") {
		t.Error("identity digests are not one per identity")
	}
}

func TestParseUsername(t *testing.T) {
	for _, bad := range []string{"", ":", "alice", "1767225600", "1767225600:", ":alice", "-5:alice", "0:alice",
		"+5:alice", " 5:alice", "0x10:alice", "1e9:alice", "9999999999999:alice", strings.Repeat("1", 600) + ":a"} {
		if _, _, err := ParseUsername(bad); err == nil {
			t.Errorf("ParseUsername(%q) accepted", bad)
		}
	}
}

// FuzzParseUsername: any username parses or is refused without a panic;
// one that parses has a positive expiry and an identity, and is
// reproduced by formatting them back.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1767225600:alice", "1:a:b", "99:~abc", "", ":", "12:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exp, id, err := ParseUsername(s)
		if err != nil {
			return
		}
		if exp.Unix() <= 0 || id == "" {
			t.Fatalf("%q parsed to %v %q", s, exp, id)
		}
		if back := NewCredential("k", id, exp).Username; id == usernameIdentity(id) && back != strings.TrimLeft(s[:strings.IndexByte(s, ':')], "0")+s[strings.IndexByte(s, ':'):] {
			t.Fatalf("%q parsed to %v %q, formats back as %q", s, exp, id, back)
		}
	})
}
