package node

import (
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sfu-project/sfu/internal/turnserver"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// Config is the whole server configuration. Each subsystem owns its part.
type Config struct {
	// Listen is the HTTP address: web client, /ws, /healthz, /metrics.
	Listen string `yaml:"listen"`
	// Keys are API keys as "key:secret[,key:secret]"; when set,
	// development mode is off unless Dev is set too.
	Keys string `yaml:"keys"`
	// Dev forces development mode: a generated key and /api/token.
	Dev bool `yaml:"dev"`
	// TLSCert and TLSKey, when both set, serve HTTPS and WSS. Browsers
	// only allow the camera on https:// pages or on localhost.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// MetricsListen, when set, serves /metrics on this address alone
	// (plain HTTP, e.g. 127.0.0.1:9090) and not on Listen.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsToken, when set, is a secret that /metrics requires as
	// "Authorization: Bearer TOKEN", on whichever listener serves it. An
	// admin access token is accepted too. See metricsGuard for the
	// default when neither is set.
	MetricsToken string `yaml:"metrics_token"`
	// LogLevel is debug, info, warn or error. The node does not read it:
	// whoever makes the logger given to New does.
	LogLevel string `yaml:"log_level"`
	// DrainTimeout is how long a node stopped by SIGTERM or SIGINT waits
	// for its clients to move to other nodes before it closes.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// DrainNotice is how long a draining node answers /healthz with 503
	// before it tells its clients to go, so that a load balancer stops
	// sending it connections first (HAProxy: inter x fall).
	DrainNotice time.Duration    `yaml:"drain_notice"`
	HTTP        HTTPConfig       `yaml:"http"`
	SFU         sfu.Config       `yaml:"sfu"`
	Signaling   signaling.Config `yaml:"signaling"`
	Cluster     ClusterConfig    `yaml:"cluster"`

	// TURN is the embedded STUN/TURN server and the external ones.
	TURN turnserver.Config `yaml:"turn"`
}

// Default is the configuration of a node started with no settings.
func Default() Config {
	return Config{Listen: ":7880", LogLevel: "info", DrainTimeout: 30 * time.Second, DrainNotice: 2 * time.Second, HTTP: defaultHTTPConfig(), SFU: sfu.Default(), Signaling: signaling.Default(),
		Cluster: defaultClusterConfig(), TURN: turnserver.Default()}
}

// DefaultTokenTTL is how long tokens minted by /api/token (and by
// default `sfu token`) last, at most the signaling max_token_lifetime.
const DefaultTokenTTL = 6 * time.Hour

// LoadConfig returns Default with the YAML file at path decoded over it;
// with an empty path, Default. Unknown keys are errors. It does not
// validate: settings from elsewhere (flags, the environment) may still
// be applied before Validate.
func LoadConfig(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate refuses a configuration the node cannot start with, naming
// the setting.
func (c Config) Validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls: give both tls_cert and tls_key (--tls-cert, --tls-key)")
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		return fmt.Errorf("metrics token: at least 16 characters")
	}
	if err := c.HTTP.Validate(); err != nil {
		return err
	}
	if err := c.Signaling.Validate(); err != nil {
		return err
	}
	if err := c.Cluster.validate(); err != nil {
		return err
	}
	if err := c.validateTURN(); err != nil {
		return err
	}
	return c.SFU.Validate()
}
