package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/sfu-project/sfu/internal/node"
)

// turnFlags are the command-line flags of the embedded TURN server; the
// other turn.* settings are YAML only.
type turnFlags struct {
	enabled  *bool
	publicIP *string
	port     *int
	tlsPort  *int
	secret   *string
	relay    *string
}

func addTURNFlags(fs *flag.FlagSet) turnFlags {
	return turnFlags{
		enabled:  fs.Bool("turn", false, "run the embedded STUN/TURN server (env SFU_TURN)"),
		publicIP: fs.String("turn-public-ip", "", "relay address given to TURN clients (env SFU_TURN_PUBLIC_IP; default --node-ip)"),
		port:     fs.Int("turn-port", -2, "STUN/TURN port over UDP and TCP (env SFU_TURN_PORT, default 3478)"),
		tlsPort:  fs.Int("turn-tls-port", -2, "TURN over TLS port, with the TLS certificate (env SFU_TURN_TLS_PORT, default 5349; -1: off)"),
		secret:   fs.String("turn-secret", "", "TURN REST shared secret, the same on every node (env SFU_TURN_SECRET; default: random)"),
		relay:    fs.String("turn-relay-ports", "", "UDP ports of TURN relays, MIN-MAX (env SFU_TURN_RELAY_PORTS, default 49152-65535; 0-0: any)"),
	}
}

// apply sets what the flags or their environment variables give, as
// value finds them.
func (f turnFlags) apply(cfg *node.Config, value func(name, flagValue string) (string, bool)) error {
	if v, ok := value("turn", strconv.FormatBool(*f.enabled)); ok {
		b, err := parseBool(v)
		if err != nil {
			return fmt.Errorf("turn %q: %w", v, err)
		}
		cfg.TURN.Enabled = b
	}
	if v, ok := value("turn-public-ip", *f.publicIP); ok {
		cfg.TURN.PublicIP = v
	}
	if v, ok := value("turn-port", strconv.Itoa(*f.port)); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("turn port %q: %w", v, err)
		}
		cfg.TURN.UDPPort, cfg.TURN.TCPPort = n, n
	}
	if v, ok := value("turn-tls-port", strconv.Itoa(*f.tlsPort)); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("turn tls port %q: %w", v, err)
		}
		cfg.TURN.TLSPort = n
	}
	if v, ok := value("turn-secret", *f.secret); ok {
		cfg.TURN.Secret = v
	}
	if v, ok := value("turn-relay-ports", *f.relay); ok {
		lo, hi, found := strings.Cut(v, "-")
		first, err1 := strconv.Atoi(lo)
		last, err2 := strconv.Atoi(hi)
		if !found || err1 != nil || err2 != nil {
			return fmt.Errorf("turn relay ports %q: want MIN-MAX", v)
		}
		cfg.TURN.RelayPortMin, cfg.TURN.RelayPortMax = first, last
	}
	return nil
}
