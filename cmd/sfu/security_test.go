package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/signaling"
)

// testKeys are the API keys of the tests of `sfu token`.
const testKeys = "ops:0123456789abcdef0123456789abcdef"

// TestTokenCommandTTL: `sfu token` refuses to mint what the server would
// refuse, and its tokens carry a jti.
func TestTokenCommandTTL(t *testing.T) {
	t.Setenv("SFU_CONFIG", "")
	ks, _ := signaling.ParseKeys(testKeys)
	mint := func(args ...string) (*signaling.Claims, error) {
		var out bytes.Buffer
		if err := runToken(append([]string{"--keys", testKeys, "--room", "r", "--identity", "ann"}, args...), &out); err != nil {
			return nil, err
		}
		if strings.TrimSpace(out.String()) == "" {
			t.Fatal("no token printed")
		}
		return ks.VerifyWith(strings.TrimSpace(out.String()), time.Now(), signaling.TokenPolicy{MaxLifetime: 1000 * time.Hour})
	}
	c, err := mint("--ttl", "24h")
	if err != nil {
		t.Fatalf("--ttl 24h: %v", err)
	}
	if len(c.ID) != 32 {
		t.Errorf("jti %q", c.ID)
	}
	for _, ttl := range []string{"24h1s", "48h", "0s", "-1h"} {
		_, err := mint("--ttl", ttl)
		if err == nil || !strings.Contains(err.Error(), "ttl") {
			t.Errorf("--ttl %s: %v, want it refused", ttl, err)
		}
	}
	if _, err := mint("--ttl", "48h"); err == nil || !strings.Contains(err.Error(), "max_token_lifetime of 24h0m0s") {
		t.Errorf("the refusal does not name the limit: %v", err)
	}

	// The server's file raises (or lowers) the limit, with --config or
	// SFU_CONFIG.
	dir := t.TempDir()
	long := filepath.Join(dir, "long.yaml")
	if err := os.WriteFile(long, []byte("signaling:\n  max_token_lifetime: 72h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := mint("--ttl", "48h", "--config", long); err != nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != 48*time.Hour {
		t.Errorf("--ttl 48h with a 72h limit: %v %v", c, err)
	}
	short := filepath.Join(dir, "short.yaml")
	if err := os.WriteFile(short, []byte("signaling:\n  max_token_lifetime: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SFU_CONFIG", short)
	if _, err := mint(); err == nil {
		t.Error("the default 6h minted under a 1h limit")
	}
	if _, err := mint("--ttl", "1h"); err != nil {
		t.Errorf("--ttl 1h under a 1h limit: %v", err)
	}
}

// TestLoadConfigSecurity: the metrics, token and origin settings are read
// from the file, the environment and flags, and bad ones stop the start.
func TestLoadConfigSecurity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sfu.yaml")
	yaml := "metrics_listen: 127.0.0.1:9090\nmetrics_token: file-token-0123456789\nsignaling:\n" +
		"  max_token_lifetime: 2h\n  token_clock_skew: 10s\n  max_revocations: 5\n  allowed_origins: [\"https://app.example.com\"]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SFU_KEYS", "")
	t.Setenv("SFU_METRICS_TOKEN", "env-token-0123456789")
	cfg, err := loadConfig([]string{"--config", path, "--metrics-listen", "127.0.0.1:9191"})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Signaling
	if cfg.MetricsListen != "127.0.0.1:9191" || cfg.MetricsToken != "env-token-0123456789" ||
		s.MaxTokenLifetime != 2*time.Hour || s.TokenClockSkew != 10*time.Second || s.MaxRevocations != 5 {
		t.Errorf("got %+v", cfg)
	}
	if d := node.Default(); d.MetricsListen != "" || d.MetricsToken != "" || d.Signaling.MaxTokenLifetime != 24*time.Hour {
		t.Errorf("defaults %+v", d)
	}

	t.Setenv("SFU_METRICS_TOKEN", "")
	for name, y := range map[string]string{
		"short metrics token": "metrics_token: short\n",
		"zero lifetime":       "signaling:\n  max_token_lifetime: 0s\n",
		"negative skew":       "signaling:\n  token_clock_skew: -1s\n",
		"no revocations":      "signaling:\n  max_revocations: 0\n",
		"origin with a path":  "signaling:\n  allowed_origins: [\"https://app.example.com/\"]\n",
	} {
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig([]string{"--config", path}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
