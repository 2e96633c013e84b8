package turnserver

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/stun/v4"
)

// Config is the TURN part of the server configuration: the embedded
// server and the external servers whose credentials the node hands out.
type Config struct {
	// Enabled runs the embedded server. It is off by default: it opens
	// three more ports and a range of relay ports, and the SFU does not
	// need it to reach clients behind NAT (its media port is itself a
	// public UDP endpoint); it is for clients whose network allows no UDP
	// but TCP or TLS, and for peer-to-peer calls that find no direct path.
	Enabled bool `yaml:"enabled"`
	// ListenIP is the address the listeners and relay sockets bind to.
	// Empty binds PublicIP when it is an address of this host, so that
	// answers leave from the address clients sent to, and every address
	// otherwise (a public address a 1:1 NAT maps to this host).
	ListenIP string `yaml:"listen_ip"`
	// PublicIP is the relayed address given to clients, the address peers
	// reach relay ports at. The node defaults it to sfu.node_ip.
	PublicIP string `yaml:"public_ip"`
	// Host is the name or address in the URLs clients are given; empty,
	// PublicIP. A turns: URL needs a name the certificate is for.
	Host string `yaml:"host"`
	// UDPPort, TCPPort and TLSPort are the listening ports (STUN and
	// TURN); -1 turns that transport off, 0 lets the system choose
	// (tests). TLS runs only with a certificate: TLSCert and TLSKey, or
	// the node's own when it serves HTTPS.
	UDPPort int    `yaml:"udp_port"`
	TCPPort int    `yaml:"tcp_port"`
	TLSPort int    `yaml:"tls_port"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// RelayPortMin and RelayPortMax bound the relay ports (one per
	// allocation); 0 and 0 let the system choose.
	RelayPortMin int `yaml:"relay_port_min"`
	RelayPortMax int `yaml:"relay_port_max"`
	// Realm is the TURN realm (RFC 8489 section 9.2).
	Realm string `yaml:"realm"`
	// Secret is the shared secret of the TURN REST credentials. Every
	// node of a cluster (and a coturn using the embedded credentials) must
	// have the same one; empty, the node makes a random one, which only
	// that node accepts.
	Secret string `yaml:"secret"`
	// CredentialTTL is how long the credentials handed to a participant
	// may open new allocations. An allocation made in time lives on while
	// its client refreshes it, so a call does not drop at the TTL.
	CredentialTTL time.Duration `yaml:"credential_ttl"`
	// AllowedPeers are the addresses relayed to even though the peer
	// policy would refuse them: CIDRs ("10.0.0.0/8") or exact transport
	// addresses ("10.0.0.5:7882"). The node adds the SFU's media address.
	AllowedPeers []string `yaml:"allowed_peers"`
	// MaxAllocationsPerUser caps the allocations one identity holds at
	// once on this server; more are refused with 486. Zero: no cap.
	MaxAllocationsPerUser int `yaml:"max_allocations_per_user"`
	// MaxUserBitrate caps what one identity's allocations relay, both
	// directions together, in bits per second, with a burst of one
	// second's worth; what is over is dropped. Zero: no cap.
	MaxUserBitrate int64 `yaml:"max_user_bitrate"`
	// MaxConnections caps the TCP and TLS connections held at once, and
	// MaxConnectionsPerAddress those from one client address; more are
	// closed at once. Zero: no cap.
	MaxConnections           int `yaml:"max_connections"`
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// HandshakeTimeout bounds the TLS handshake and the wait for a new TCP
	// or TLS connection's first message.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// IdleTimeout closes a TCP or TLS connection silent this long. A
	// client keeps its allocation by refreshing it and its permissions
	// every few minutes, well within the default.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// External are other STUN/TURN servers given to every participant,
	// with credentials of its own where they take TURN REST ones.
	External []ExternalServer `yaml:"external"`
}

// ExternalServer is a STUN/TURN server the node does not run (coturn, a
// TURN service), given to participants beside the embedded one.
type ExternalServer struct {
	// URLs are its stun:, stuns:, turn: and turns: URLs.
	URLs []string `yaml:"urls"`
	// Secret, when set, is its TURN REST shared secret (coturn's
	// static-auth-secret with use-auth-secret): each participant gets
	// credentials of its own, valid for CredentialTTL.
	Secret string `yaml:"secret"`
	// Username and Credential are fixed credentials, used when Secret is
	// empty.
	Username   string `yaml:"username"`
	Credential string `yaml:"credential"`
}

// Default is the TURN configuration of a node started with no settings:
// the embedded server off, and on the usual ports once enabled.
func Default() Config {
	return Config{
		UDPPort:                  3478,
		TCPPort:                  3478,
		TLSPort:                  5349,
		RelayPortMin:             49152,
		RelayPortMax:             65535,
		Realm:                    "sfu",
		CredentialTTL:            12 * time.Hour,
		MaxAllocationsPerUser:    24,
		MaxUserBitrate:           20_000_000,
		MaxConnections:           4096,
		MaxConnectionsPerAddress: 64,
		HandshakeTimeout:         10 * time.Second,
		IdleTimeout:              10 * time.Minute,
	}
}

// minSecret is the shortest shared secret accepted.
const minSecret = 16

// minBitrate is the lowest bandwidth cap accepted, in bits per second.
const minBitrate = 64_000

// Validate refuses settings the server cannot use, naming the key.
func (c Config) Validate() error {
	for name, p := range map[string]int{"udp_port": c.UDPPort, "tcp_port": c.TCPPort, "tls_port": c.TLSPort} {
		if p < -1 || p > 65535 {
			return fmt.Errorf("turn.%s: %d is not a port, 0 or -1", name, p)
		}
	}
	if c.RelayPortMin != 0 || c.RelayPortMax != 0 {
		if c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax {
			return fmt.Errorf("turn: relay ports %d-%d: want 1 <= min <= max <= 65535, or both 0", c.RelayPortMin, c.RelayPortMax)
		}
	}
	if c.ListenIP != "" {
		if _, err := netip.ParseAddr(c.ListenIP); err != nil {
			return fmt.Errorf("turn.listen_ip: %q is not an IP address", c.ListenIP)
		}
	}
	if c.PublicIP != "" {
		if a, err := netip.ParseAddr(c.PublicIP); err != nil || a.IsUnspecified() {
			return fmt.Errorf("turn.public_ip: %q is not an IP address clients can reach", c.PublicIP)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("turn: give both tls_cert and tls_key")
	}
	if c.Realm == "" || strings.ContainsAny(c.Realm, "\"\\") {
		return fmt.Errorf("turn.realm: %q: want a non-empty name without quotes", c.Realm)
	}
	if c.Secret != "" && len(c.Secret) < minSecret {
		return fmt.Errorf("turn.secret: at least %d characters", minSecret)
	}
	switch {
	case c.CredentialTTL <= 0:
		return fmt.Errorf("turn.credential_ttl: %s: want a positive duration", c.CredentialTTL)
	case c.MaxAllocationsPerUser < 0 || c.MaxUserBitrate < 0 || c.MaxConnections < 0 || c.MaxConnectionsPerAddress < 0:
		return fmt.Errorf("turn: max_allocations_per_user, max_user_bitrate, max_connections and max_connections_per_address must not be negative")
	case c.MaxUserBitrate != 0 && c.MaxUserBitrate < minBitrate:
		return fmt.Errorf("turn.max_user_bitrate: %d: want 0 or at least %d bits/s, so that a whole datagram fits a second's burst", c.MaxUserBitrate, minBitrate)
	case c.HandshakeTimeout <= 0 || c.IdleTimeout <= 0:
		return fmt.Errorf("turn: handshake_timeout and idle_timeout must be positive")
	}
	if _, _, err := parsePeers(c.AllowedPeers); err != nil {
		return err
	}
	for i, e := range c.External {
		if err := e.validate(); err != nil {
			return fmt.Errorf("turn.external[%d]: %w", i, err)
		}
	}
	return nil
}

func (e ExternalServer) validate() error {
	if len(e.URLs) == 0 {
		return fmt.Errorf("no urls")
	}
	needsAuth := false
	for _, u := range e.URLs {
		uri, err := stun.ParseURI(u)
		if err != nil {
			return fmt.Errorf("url %q: %w", u, err)
		}
		needsAuth = needsAuth || uri.Scheme == stun.SchemeTypeTURN || uri.Scheme == stun.SchemeTypeTURNS
	}
	switch {
	case e.Secret != "" && (e.Username != "" || e.Credential != ""):
		return fmt.Errorf("give a secret or a username and credential, not both")
	case e.Secret != "" && len(e.Secret) < minSecret:
		return fmt.Errorf("secret: at least %d characters", minSecret)
	case (e.Username == "") != (e.Credential == ""):
		return fmt.Errorf("give both username and credential")
	case needsAuth && e.Secret == "" && e.Username == "":
		return fmt.Errorf("turn: and turns: URLs need a secret or a username and credential")
	}
	return nil
}
