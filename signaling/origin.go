package signaling

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// origin is a Web origin (RFC 6454): scheme and host in lower case, the
// host with its port unless that is the scheme's default, as browsers
// send it.
type origin struct{ scheme, host string }

// parseOrigin reads "scheme://host[:port]", and nothing more: an origin
// has no path, query, fragment or user.
func parseOrigin(s string) (origin, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(rest, "/?#@\\") {
		return origin{}, fmt.Errorf("origin %q: want scheme://host[:port] and nothing more", s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return origin{}, fmt.Errorf("origin %q: want scheme://host[:port] and nothing more", s)
	}
	scheme = strings.ToLower(u.Scheme)
	return origin{scheme: scheme, host: canonicalHost(scheme, u.Host)}, nil
}

// canonicalHost lower-cases host and drops the scheme's default port.
func canonicalHost(scheme, host string) string {
	host = strings.ToLower(host)
	switch scheme {
	case "http", "ws":
		return strings.TrimSuffix(host, ":80")
	case "https", "wss":
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// originPolicy decides which Origin headers may open a WebSocket.
type originPolicy struct {
	any     bool // "*" is configured
	allowed map[origin]bool
}

// newOriginPolicy reads Config.AllowedOrigins. Entries that do not parse
// are left out (Config.Validate reports them).
func newOriginPolicy(list []string) originPolicy {
	p := originPolicy{allowed: map[origin]bool{}}
	for _, s := range list {
		if s == "*" {
			p.any = true
			continue
		}
		if o, err := parseOrigin(s); err == nil {
			p.allowed[o] = true
		}
	}
	return p
}

// allows accepts a request with no Origin (not a browser), an Origin that
// is the server's own, one that is configured, or any with "*". The
// server's own origin is the request's Host with the scheme the request
// came over: https when it came over TLS, http otherwise. Behind a proxy
// that terminates TLS, the page's https origin is not the server's own:
// list it in allowed_origins.
func (p originPolicy) allows(r *http.Request) bool {
	h := r.Header.Get("Origin")
	if h == "" || p.any {
		return true
	}
	o, err := parseOrigin(h)
	if err != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return o == origin{scheme: scheme, host: canonicalHost(scheme, r.Host)} || p.allowed[o]
}
