package turnserver

import "time"

// ICEServer is one RTCIceServer given to a client
// (https://www.w3.org/TR/webrtc/#rtciceserver-dictionary).
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Issuer hands each participant its ICE servers: the embedded server's,
// when it runs, and the external ones, with TURN REST credentials of the
// participant's own where a server takes them. It is safe for concurrent
// use and does no I/O.
type Issuer struct {
	ttl     time.Duration
	now     func() time.Time
	servers []issued
}

// issued is one server as the Issuer hands it out.
type issued struct {
	urls                 []string
	secret               string // set: credentials minted per participant
	username, credential string // fixed credentials, or none (STUN)
}

// NewIssuer returns the Issuer of cfg's servers and of embedded, which
// may be nil. now is its clock; nil: time.Now.
func NewIssuer(cfg Config, embedded *Server, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	i := &Issuer{ttl: cfg.CredentialTTL, now: now}
	if embedded != nil {
		stunURLs, turnURLs := embedded.URLs()
		if len(stunURLs) > 0 {
			i.servers = append(i.servers, issued{urls: stunURLs})
		}
		if len(turnURLs) > 0 {
			i.servers = append(i.servers, issued{urls: turnURLs, secret: embedded.Secret()})
		}
	}
	for _, e := range cfg.External {
		i.servers = append(i.servers, issued{urls: e.URLs, secret: e.Secret, username: e.Username, credential: e.Credential})
	}
	return i
}

// Len is the number of servers each participant is given.
func (i *Issuer) Len() int {
	if i == nil {
		return 0
	}
	return len(i.servers)
}

// ICEServers returns identity's ICE servers, with credentials valid for
// the configured TTL from now; nil when there are none. The URL slices
// are shared between calls: callers must not change them.
func (i *Issuer) ICEServers(identity string) []ICEServer {
	if i == nil || len(i.servers) == 0 {
		return nil
	}
	expiry := i.now().Add(i.ttl)
	out := make([]ICEServer, 0, len(i.servers))
	for _, s := range i.servers {
		e := ICEServer{URLs: s.urls, Username: s.username, Credential: s.credential}
		if s.secret != "" {
			c := NewCredential(s.secret, identity, expiry)
			e.Username, e.Credential = c.Username, c.Password
		}
		out = append(out, e)
	}
	return out
}
