package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/sfu-project/sfu/internal/node"
)

// envNames maps flags to the environment variables that can set them.
var envNames = map[string]string{
	"config":   "SFU_CONFIG",
	"listen":   "SFU_LISTEN",
	"udp-port": "SFU_UDP_PORT",
	"node-ip":  "SFU_NODE_IP",
	"keys":     "SFU_KEYS",
	"dev":      "SFU_DEV",
	"p2p":      "SFU_P2P",
	"log":      "SFU_LOG_LEVEL",
	"tls-cert": "SFU_TLS_CERT",
	"tls-key":  "SFU_TLS_KEY",

	"redis":   "SFU_REDIS",
	"node-id": "SFU_NODE_ID",

	"metrics-listen": "SFU_METRICS_LISTEN",
	"metrics-token":  "SFU_METRICS_TOKEN",

	"turn":             "SFU_TURN",
	"turn-public-ip":   "SFU_TURN_PUBLIC_IP",
	"turn-port":        "SFU_TURN_PORT",
	"turn-tls-port":    "SFU_TURN_TLS_PORT",
	"turn-secret":      "SFU_TURN_SECRET",
	"turn-relay-ports": "SFU_TURN_RELAY_PORTS",
}

// loadConfig applies, in increasing precedence: defaults, the YAML file
// (--config or SFU_CONFIG), environment variables, command-line flags.
func loadConfig(args []string) (node.Config, error) {
	return loadConfigTo(args, os.Stderr)
}

// loadConfigTo is loadConfig writing --help and flag errors to out.
func loadConfigTo(args []string, out io.Writer) (node.Config, error) {
	cfg := node.Default()
	fs := flag.NewFlagSet("sfu", flag.ContinueOnError)
	setUsage(fs, out, serverUsage)
	path := fs.String("config", "", "YAML configuration file (env SFU_CONFIG)")
	listen := fs.String("listen", "", "HTTP listen address (env SFU_LISTEN, default :7880)")
	udpPort := fs.Int("udp-port", -1, "UDP port for all media (env SFU_UDP_PORT, default 7882)")
	nodeIP := fs.String("node-ip", "", "IP address advertised in ICE candidates (env SFU_NODE_IP)")
	keys := fs.String("keys", "", "API keys key:secret[,key:secret] (env SFU_KEYS)")
	dev := fs.Bool("dev", false, "development mode: generated key and /api/token (env SFU_DEV)")
	p2p := fs.Bool("p2p", true, "rooms of two go peer to peer, the server only brokering (env SFU_P2P)")
	logLevel := fs.String("log", "", "log level debug|info|warn|error (env SFU_LOG_LEVEL)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file for HTTPS (env SFU_TLS_CERT)")
	tlsKey := fs.String("tls-key", "", "TLS private key file for HTTPS (env SFU_TLS_KEY)")
	redisURL := fs.String("redis", "", "Redis URL of the cluster's shared state, e.g. redis://10.0.0.5:6379/0 (env SFU_REDIS; default: a single node)")
	nodeID := fs.String("node-id", "", "this node's name in the cluster (env SFU_NODE_ID; default: random)")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics on this address only, e.g. 127.0.0.1:9090 (env SFU_METRICS_LISTEN)")
	metricsToken := fs.String("metrics-token", "", "bearer token /metrics requires (env SFU_METRICS_TOKEN)")
	turn := addTURNFlags(fs)
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
	cfg, err := node.LoadConfig(*path)
	if err != nil {
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
	if v, ok := value("redis", *redisURL); ok {
		cfg.Cluster.Redis = v
	}
	if v, ok := value("node-id", *nodeID); ok {
		cfg.Cluster.NodeID = v
	}
	if v, ok := value("keys", *keys); ok {
		cfg.Keys = v
	}
	if v, ok := value("dev", strconv.FormatBool(*dev)); ok {
		b, err := parseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("dev %q: %w", v, err)
		}
		cfg.Dev = b
	}
	if v, ok := value("p2p", strconv.FormatBool(*p2p)); ok {
		b, err := parseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("p2p %q: %w", v, err)
		}
		cfg.SFU.P2P.Enabled = b
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
	if err := turn.apply(&cfg, value); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}
