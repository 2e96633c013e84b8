package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--ramp", "ten/5s"},
		{"--ramp", "10/100ms"},
		{"--layer", "huge"},
		{"--key", "k"},
		{"--rooms", "0"},
		{"--duration", "-1s"},
		{"--no-such-flag"},
		{"--backoff", "1s"},
		{"--backoff", "10s/1s"},
		{"--backoff", "0s/1s"},
		{"--p2p", "--ramp", "10/5s"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestParseRampBackoffAndLayer(t *testing.T) {
	var cfg loadtest.RunConfig
	if err := parseRamp("25/10s", &cfg); err != nil || cfg.RampStep != 25 || cfg.RampEvery != 10*time.Second {
		t.Errorf("ramp 25/10s: %v %d %v", err, cfg.RampStep, cfg.RampEvery)
	}
	if err := parseBackoff("250ms/4s", &cfg); err != nil || cfg.Backoff != (loadtest.Backoff{First: 250 * time.Millisecond, Max: 4 * time.Second}) {
		t.Errorf("backoff 250ms/4s: %v %+v", err, cfg.Backoff)
	}
	for s, want := range map[string]int{"low": 0, "mid": 1, "high": 2} {
		if err := parseLayer(s, &cfg); err != nil || cfg.MaxLayer == nil || *cfg.MaxLayer != want {
			t.Errorf("layer %s: %v", s, err)
		}
	}
}

// The harness reads /metrics of a node with keys with an admin token it
// signs itself; the node must accept it, even for a run longer than the
// token lifetime limit.
func TestAdminTokenAccepted(t *testing.T) {
	keys := signaling.Keys{"k": "0123456789abcdef0123456789abcdef"}
	for _, d := range []time.Duration{time.Minute, 48 * time.Hour} {
		tok, err := adminToken("k", keys["k"], d)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := keys.Verify(tok, time.Now())
		if err != nil || !claims.Grants.Admin {
			t.Errorf("run of %v: token refused (%v) or not admin", d, err)
		}
	}
}
