package node

import (
	"fmt"
	"net/http"
	"time"
)

// HTTPConfig bounds how long the HTTP server holds a connection for a
// request. WebSockets are not subject to it: once upgraded (hijacked) a
// connection keeps only the signaling server's own deadlines. Zero means
// no limit, as in net/http.
type HTTPConfig struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers, counted from the first byte of a new connection.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout is how long it may take to send a whole request.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout is how long writing a response may take. CPU profiles
	// and traces (/debug/pprof/profile?seconds=N) get N seconds more.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

func defaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
}

// Validate refuses negative timeouts.
func (c HTTPConfig) Validate() error {
	for name, d := range map[string]time.Duration{
		"read_header_timeout": c.ReadHeaderTimeout, "read_timeout": c.ReadTimeout,
		"write_timeout": c.WriteTimeout, "idle_timeout": c.IdleTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("http.%s: %v is negative", name, d)
		}
	}
	return nil
}

// server returns an HTTP server for h with these timeouts.
func (c HTTPConfig) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
	}
}
