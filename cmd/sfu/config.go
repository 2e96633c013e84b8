package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

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
	// LogLevel is debug, info, warn or error.
	LogLevel  string           `yaml:"log_level"`
	HTTP      HTTPConfig       `yaml:"http"`
	SFU       sfu.Config       `yaml:"sfu"`
	Signaling signaling.Config `yaml:"signaling"`
}

func defaultConfig() Config {
	return Config{Listen: ":7880", LogLevel: "info", HTTP: defaultHTTPConfig(), SFU: sfu.Default(), Signaling: signaling.Default()}
}

// envNames maps flags to the environment variables that can set them.
var envNames = map[string]string{
	"config":   "SFU_CONFIG",
	"listen":   "SFU_LISTEN",
	"udp-port": "SFU_UDP_PORT",
	"node-ip":  "SFU_NODE_IP",
	"keys":     "SFU_KEYS",
	"dev":      "SFU_DEV",
	"log":      "SFU_LOG_LEVEL",
	"tls-cert": "SFU_TLS_CERT",
	"tls-key":  "SFU_TLS_KEY",

	"metrics-listen": "SFU_METRICS_LISTEN",
	"metrics-token":  "SFU_METRICS_TOKEN",
}

// loadConfig applies, in increasing precedence: defaults, the YAML file
// (--config or SFU_CONFIG), environment variables, command-line flags.
func loadConfig(args []string) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("sfu", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration file (env SFU_CONFIG)")
	listen := fs.String("listen", "", "HTTP listen address (env SFU_LISTEN, default :7880)")
	udpPort := fs.Int("udp-port", -1, "UDP port for all media (env SFU_UDP_PORT, default 7882)")
	nodeIP := fs.String("node-ip", "", "IP address advertised in ICE candidates (env SFU_NODE_IP)")
	keys := fs.String("keys", "", "API keys key:secret[,key:secret] (env SFU_KEYS)")
	dev := fs.Bool("dev", false, "development mode: generated key and /api/token (env SFU_DEV)")
	logLevel := fs.String("log", "", "log level debug|info|warn|error (env SFU_LOG_LEVEL)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file for HTTPS (env SFU_TLS_CERT)")
	tlsKey := fs.String("tls-key", "", "TLS private key file for HTTPS (env SFU_TLS_KEY)")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics on this address only, e.g. 127.0.0.1:9090 (env SFU_METRICS_LISTEN)")
	metricsToken := fs.String("metrics-token", "", "bearer token /metrics requires (env SFU_METRICS_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *path == "" {
		*path = os.Getenv(envNames["config"])
	}
	if err := readConfigFile(*path, &cfg); err != nil {
		return cfg, err
	}

	value := func(name, flagValue string) (string, bool) {
		if set[name] {
			return flagValue, true
		}
		v, ok := os.LookupEnv(envNames[name])
		return v, ok && v != ""
	}
	if v, ok := value("listen", *listen); ok {
		cfg.Listen = v
	}
	if v, ok := value("udp-port", strconv.Itoa(*udpPort)); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return cfg, fmt.Errorf("udp port %q: %w", v, err)
		}
		cfg.SFU.UDPPort = n
	}
	if v, ok := value("node-ip", *nodeIP); ok {
		cfg.SFU.NodeIP = v
	}
	if v, ok := value("keys", *keys); ok {
		cfg.Keys = v
	}
	if v, ok := value("dev", strconv.FormatBool(*dev)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("dev %q: %w", v, err)
		}
		cfg.Dev = b
	}
	if v, ok := value("log", *logLevel); ok {
		cfg.LogLevel = v
	}
	if v, ok := value("tls-cert", *tlsCert); ok {
		cfg.TLSCert = v
	}
	if v, ok := value("tls-key", *tlsKey); ok {
		cfg.TLSKey = v
	}
	if v, ok := value("metrics-listen", *metricsListen); ok {
		cfg.MetricsListen = v
	}
	if v, ok := value("metrics-token", *metricsToken); ok {
		cfg.MetricsToken = v
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, fmt.Errorf("tls: give both --tls-cert and --tls-key")
	}
	if cfg.MetricsToken != "" && len(cfg.MetricsToken) < 16 {
		return cfg, fmt.Errorf("metrics token: at least 16 characters")
	}
	if err := cfg.HTTP.Validate(); err != nil {
		return cfg, err
	}
	if err := cfg.Signaling.Validate(); err != nil {
		return cfg, err
	}
	return cfg, cfg.SFU.Validate()
}

// readConfigFile decodes the YAML file at path, if path is not empty,
// over cfg. Unknown keys are errors.
func readConfigFile(path string, cfg *Config) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// tokenTTLDefault is how long tokens minted by `sfu token` and /api/token last.
const tokenTTLDefault = 6 * time.Hour
