package main

import (
	"bytes"
	"errors"
	"flag"
	"runtime"
	"strings"
	"testing"
)

// TestUsage: --help names the subcommands and every flag with one
// default at most; malformed input is refused.
func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if _, err := loadConfigTo([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v, want flag.ErrHelp", err)
	}
	help := out.String()
	for _, want := range []string{"sfu token [flags]", "sfu version", "--p2p\n", "--udp-port int\n", "--turn-relay-ports string\n"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	for _, line := range strings.Split(help, "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults in %q", line)
		}
	}
	if !strings.Contains(help, "(default true)") {
		t.Error("--p2p's default is not given")
	}
}

func TestParseBool(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "YES": true, "on": true, " On ": true, "0": false, "false": false, "no": false, "Off": false} {
		if got, err := parseBool(v); err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, bad := range []string{"", "maybe", "yess", "2"} {
		if _, err := parseBool(bad); err == nil {
			t.Errorf("parseBool(%q) accepted", bad)
		}
	}
	t.Setenv("SFU_P2P", "off")
	t.Setenv("SFU_DEV", "yes")
	cfg, err := loadConfig(nil)
	if err != nil || cfg.SFU.P2P.Enabled || !cfg.Dev {
		t.Errorf("SFU_P2P=off, SFU_DEV=yes: p2p %v, dev %v (%v)", cfg.SFU.P2P.Enabled, cfg.Dev, err)
	}
}

func TestVersionText(t *testing.T) {
	v := versionText()
	if !strings.HasPrefix(v, "sfu ") || !strings.Contains(v, runtime.Version()) {
		t.Errorf("version %q", v)
	}
	version = "v9.8.7"
	defer func() { version = "" }()
	if v := versionText(); !strings.HasPrefix(v, "sfu v9.8.7") {
		t.Errorf("with a release set at build time: %q", v)
	}
}
