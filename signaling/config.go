package signaling

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is the signaling part of the server configuration.
type Config struct {
	// MaxMessageBytes is the largest message handled; larger ones are
	// refused with message_too_large. Messages over HardLimitBytes close
	// the connection.
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	HardLimitBytes  int64 `yaml:"hard_limit_bytes"`
	// RateBurst and RatePerSecond bound the messages a client may send.
	RateBurst     int     `yaml:"rate_burst"`
	RatePerSecond float64 `yaml:"rate_per_second"`
	// MaxRefusals is how many rate-limited messages close the connection.
	MaxRefusals int `yaml:"max_refusals"`
	// PingInterval is how often the server pings; a client silent for
	// PongTimeout is dropped.
	PingInterval time.Duration `yaml:"ping_interval"`
	PongTimeout  time.Duration `yaml:"pong_timeout"`
	// SendQueue is how many messages may wait for a slow client before it
	// is dropped.
	SendQueue int `yaml:"send_queue"`
	// ICEServers are given to clients in the joined message (STUN/TURN URLs).
	ICEServers []string `yaml:"ice_servers"`
	// AllowedOrigins, when not empty, lists the Origin headers accepted
	// for WebSocket upgrades besides the server's own host.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxTokenLifetime is the longest an access token may be valid (exp -
	// iat, or exp - now without iat); longer ones are refused. See
	// TokenPolicy.
	MaxTokenLifetime time.Duration `yaml:"max_token_lifetime"`
	// TokenClockSkew is how far in the future a token's iat may be.
	TokenClockSkew time.Duration `yaml:"token_clock_skew"`
	// MaxRevocations is how many unexpired revocations the in-memory
	// store holds; more are refused with ErrRevocationsFull.
	MaxRevocations int `yaml:"max_revocations"`
	// JoinTimeout is how long a WebSocket may stay open without a
	// successful join; then it is closed with CloseJoinTimeout.
	JoinTimeout time.Duration `yaml:"join_timeout"`
	// MaxConnections caps the WebSocket connections open at once;
	// further upgrades are answered 503. MaxConnectionsPerAddress caps
	// them per client address (an IPv4 address, or an IPv6 /64), taken
	// from the socket; further upgrades from it are answered 429. Zero
	// means no cap.
	MaxConnections           int `yaml:"max_connections"`
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// ExemptAddresses are CIDRs that MaxConnectionsPerAddress does not
	// apply to. By default the machine itself: a reverse proxy on it, or
	// the load harness, brings every client from one loopback address.
	ExemptAddresses []string `yaml:"exempt_addresses"`
	// ChatMaxLength is the most characters (Unicode code points) a chat
	// message may have; longer ones are refused with chat_too_long.
	ChatMaxLength int `yaml:"chat_max_length"`
	// ChatHistory is how many of a room's last chat messages are kept and
	// given to those who join; 0 keeps none.
	ChatHistory int `yaml:"chat_history"`
	// ChatRatePerSecond and ChatBurst bound the chat messages one
	// participant may send; more are refused with rate_limited.
	ChatRatePerSecond float64 `yaml:"chat_rate_per_second"`
	ChatBurst         int     `yaml:"chat_burst"`
	// MaxFileBytes is the largest file the web client sends or accepts
	// in a file transfer, given to clients in the joined message. The
	// server never sees files whole (they go in data messages), so the
	// clients enforce it.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
}

// Default returns the signaling defaults.
func Default() Config {
	return Config{
		MaxMessageBytes: 64 << 10,
		HardLimitBytes:  1 << 20,
		RateBurst:       200,
		RatePerSecond:   50,
		MaxRefusals:     100,
		PingInterval:    5 * time.Second,
		PongTimeout:     15 * time.Second,
		SendQueue:       512,

		MaxTokenLifetime:         DefaultMaxTokenLifetime,
		TokenClockSkew:           DefaultTokenClockSkew,
		MaxRevocations:           10000,
		JoinTimeout:              10 * time.Second,
		MaxConnections:           10000,
		MaxConnectionsPerAddress: 50,
		ExemptAddresses:          []string{"127.0.0.0/8", "::1/128"},

		ChatMaxLength:     2000,
		ChatHistory:       100,
		ChatRatePerSecond: 5,
		ChatBurst:         10,
		MaxFileBytes:      1 << 30,
	}
}

// TokenPolicy is the policy tokens are verified under.
func (c Config) TokenPolicy() TokenPolicy {
	return TokenPolicy{MaxLifetime: c.MaxTokenLifetime, ClockSkew: c.TokenClockSkew}
}

// Validate refuses settings the server cannot use.
func (c Config) Validate() error {
	if _, err := parsePrefixes(c.ExemptAddresses); err != nil {
		return err
	}
	switch {
	case c.JoinTimeout < 0 || c.MaxConnections < 0 || c.MaxConnectionsPerAddress < 0:
		return fmt.Errorf("signaling: join_timeout, max_connections and max_connections_per_address must not be negative")
	case c.MaxTokenLifetime <= 0:
		return fmt.Errorf("signaling: max_token_lifetime %s: want a positive duration", c.MaxTokenLifetime)
	case c.TokenClockSkew < 0:
		return fmt.Errorf("signaling: token_clock_skew %s: want zero or more", c.TokenClockSkew)
	case c.ChatMaxLength <= 0 || c.ChatHistory < 0 || c.ChatRatePerSecond <= 0 || c.ChatBurst <= 0:
		return fmt.Errorf("signaling: chat_max_length, chat_rate_per_second and chat_burst must be positive, chat_history not negative")
	case c.MaxFileBytes < 0:
		return fmt.Errorf("signaling: max_file_bytes %d: want zero (the clients' default, 1 GiB) or more", c.MaxFileBytes)
	case c.MaxRevocations <= 0:
		return fmt.Errorf("signaling: max_revocations %d: want at least 1", c.MaxRevocations)
	}
	for _, o := range c.AllowedOrigins {
		if _, err := parseOrigin(o); o != "*" && err != nil {
			return fmt.Errorf("signaling: allowed_origins: %w", err)
		}
	}
	return nil
}

// parsePrefixes parses CIDRs, or single addresses as /32 or /128.
func parsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("signaling: exempt address %q is not a CIDR or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
