package signaling

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// TestOriginPolicy: the Origin must be the server's own (scheme by the
// request's TLS, host by its Host) or listed, compared as whole origins.
func TestOriginPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tls     bool
		host    string
		origin  string // "" sends none
		allowed []string
		want    bool
	}{
		{"no Origin (not a browser)", false, "sfu.example.com", "", nil, true},
		{"same origin over http", false, "sfu.example.com", "http://sfu.example.com", nil, true},
		{"same origin over TLS", true, "sfu.example.com", "https://sfu.example.com", nil, true},
		{"same origin, another case", true, "SFU.example.com", "https://sfu.EXAMPLE.com", nil, true},
		{"same origin with a port", false, "127.0.0.1:7880", "http://127.0.0.1:7880", nil, true},
		{"same origin, IPv6", true, "[::1]:7880", "https://[::1]:7880", nil, true},
		{"default port in Host", true, "sfu.example.com:443", "https://sfu.example.com", nil, true},
		{"default port in Origin", false, "sfu.example.com", "http://sfu.example.com:80", nil, true},
		{"https page, http server", false, "sfu.example.com", "https://sfu.example.com", nil, false},
		{"http page, TLS server", true, "sfu.example.com", "http://sfu.example.com", nil, false},
		{"another port", false, "sfu.example.com:7880", "http://sfu.example.com:7881", nil, false},
		{"another port than the default", true, "sfu.example.com", "https://sfu.example.com:8443", nil, false},
		{"another host", true, "sfu.example.com", "https://evil.example.com", nil, false},
		{"host as a suffix", true, "sfu.example.com", "https://sfu.example.com.evil.net", nil, false},
		{"ws scheme", false, "sfu.example.com", "ws://sfu.example.com", nil, false},
		{"null", false, "sfu.example.com", "null", nil, false},
		{"garbage", false, "sfu.example.com", "::::", nil, false},
		{"with a path", false, "sfu.example.com", "http://sfu.example.com/x", nil, false},
		{"with a user", false, "sfu.example.com", "http://a@sfu.example.com", nil, false},
		{"listed", false, "sfu.internal:7880", "https://app.example.com", []string{"https://app.example.com"}, true},
		{"listed, another case", false, "sfu.internal:7880", "https://APP.example.com", []string{"HTTPS://app.Example.com"}, true},
		{"listed with its default port", false, "sfu.internal:7880", "https://app.example.com", []string{"https://app.example.com:443"}, true},
		{"listed with another scheme", false, "sfu.internal:7880", "http://app.example.com", []string{"https://app.example.com"}, false},
		{"listed with another port", false, "sfu.internal:7880", "https://app.example.com:8443", []string{"https://app.example.com"}, false},
		{"listed host, unlisted subdomain", false, "sfu.internal:7880", "https://x.app.example.com", []string{"https://app.example.com"}, false},
		{"proxy terminating TLS, origin listed", false, "sfu.example.com", "https://sfu.example.com", []string{"https://sfu.example.com"}, true},
		{"a malformed entry is ignored", false, "sfu.internal:7880", "https://app.example.com", []string{"app.example.com"}, false},
		{"any", false, "sfu.example.com", "https://evil.example.com", []string{"*"}, true},
		{"any, even null", true, "sfu.example.com", "null", []string{"*"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ws", nil)
			r.Host = tc.host
			r.TLS = nil
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if got := newOriginPolicy(tc.allowed).allows(r); got != tc.want {
				t.Errorf("allows = %v, want %v", got, tc.want)
			}
		})
	}
}
