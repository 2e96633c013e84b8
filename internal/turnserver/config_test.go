package turnserver

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name, want string
		change     func(*Config)
	}{
		{"port", "turn.udp_port", func(c *Config) { c.UDPPort = 70000 }},
		{"relay range", "relay ports", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50000, 40000 }},
		{"half a range", "relay ports", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 0, 40000 }},
		{"listen ip", "turn.listen_ip", func(c *Config) { c.ListenIP = "nowhere" }},
		{"public ip", "turn.public_ip", func(c *Config) { c.PublicIP = "0.0.0.0" }},
		{"half a cert", "tls_cert", func(c *Config) { c.TLSCert = "cert.pem" }},
		{"realm", "turn.realm", func(c *Config) { c.Realm = "" }},
		{"short secret", "turn.secret", func(c *Config) { c.Secret = "short" }},
		{"ttl", "credential_ttl", func(c *Config) { c.CredentialTTL = 0 }},
		{"quota", "must not be negative", func(c *Config) { c.MaxAllocationsPerUser = -1 }},
		{"bitrate", "max_user_bitrate", func(c *Config) { c.MaxUserBitrate = 1000 }},
		{"timeout", "idle_timeout", func(c *Config) { c.IdleTimeout = 0 }},
		{"peer", "allowed_peers", func(c *Config) { c.AllowedPeers = []string{"example.com"} }},
		{"external url", "turn.external[0]", func(c *Config) { c.External = []ExternalServer{{URLs: []string{"http://x"}}} }},
		{"external auth", "need a secret", func(c *Config) { c.External = []ExternalServer{{URLs: []string{"turn:turn.example.com"}}} }},
		{"external both", "not both", func(c *Config) {
			c.External = []ExternalServer{{URLs: []string{"turn:turn.example.com"}, Secret: "a-long-enough-secret", Username: "u", Credential: "p"}}
		}},
		{"external half", "both username", func(c *Config) {
			c.External = []ExternalServer{{URLs: []string{"turn:turn.example.com"}, Username: "u"}}
		}},
	} {
		c := Default()
		tc.change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
	c := Default()
	c.External = []ExternalServer{{URLs: []string{"stun:stun.example.com:3478"}}, {URLs: []string{"turns:turn.example.com:443?transport=tcp"}, Username: "u", Credential: "p"}}
	if err := c.Validate(); err != nil {
		t.Errorf("external STUN, and TURN with fixed credentials: %v", err)
	}
}

// TestIssuer: every participant gets the embedded server's STUN URL and
// TURN URLs with a credential of its own, valid for the TTL, then the
// external servers: with credentials minted under their secret, or their
// fixed ones.
func TestIssuer(t *testing.T) {
	now := time.Unix(1767225600, 0)
	cfg := Default()
	cfg.CredentialTTL = time.Hour
	cfg.External = []ExternalServer{
		{URLs: []string{"turn:coturn.example.com:3478"}, Secret: "the-coturn-secret"},
		{URLs: []string{"turns:turn.example.com:443?transport=tcp"}, Username: "fixed", Credential: "pass"},
		{URLs: []string{"stun:stun.example.com:19302"}},
	}
	embedded := &Server{host: "turn.example.net", secret: "the-embedded-secret", udpPort: 3478, tcpPort: 3479, tlsPort: 5349}
	got := NewIssuer(cfg, embedded, func() time.Time { return now }).ICEServers("alice")
	want := []ICEServer{
		{URLs: []string{"stun:turn.example.net:3478"}},
		{URLs: []string{"turn:turn.example.net:3478?transport=udp", "turn:turn.example.net:3479?transport=tcp", "turns:turn.example.net:5349?transport=tcp"},
			Username: "1767229200:alice", Credential: password("the-embedded-secret", "1767229200:alice")},
		{URLs: []string{"turn:coturn.example.com:3478"}, Username: "1767229200:alice", Credential: password("the-coturn-secret", "1767229200:alice")},
		{URLs: []string{"turns:turn.example.com:443?transport=tcp"}, Username: "fixed", Credential: "pass"},
		{URLs: []string{"stun:stun.example.com:19302"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d servers, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if strings.Join(got[i].URLs, " ") != strings.Join(want[i].URLs, " ") || got[i].Username != want[i].Username || got[i].Credential != want[i].Credential {
			t.Errorf("server %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := NewIssuer(Default(), nil, nil).ICEServers("alice"); got != nil {
		t.Errorf("no servers configured: %+v", got)
	}
}
