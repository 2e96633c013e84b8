package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

const testKeys = "ops:0123456789abcdef0123456789abcdef"

// mintTest signs a token with testKeys.
func mintTest(t *testing.T, room, identity string, g signaling.Grants) string {
	t.Helper()
	ks, _ := signaling.ParseKeys(testKeys)
	tok, err := ks.Mint("ops", signaling.TokenRequest{Room: room, Identity: identity, Grants: g, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// request sends method path with an optional bearer token and body, and
// returns the status and body.
func request(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestMetricsAccess scrapes /metrics of real nodes configured each way
// and checks who gets the figures.
func TestMetricsAccess(t *testing.T) {
	const secret = "scrape-0123456789abcdef"
	admin := mintTest(t, "any", "operator", signaling.Grants{Admin: true})
	user := mintTest(t, "any", "user", signaling.Grants{Publish: true, Subscribe: true})
	type try struct {
		token string
		want  int
	}
	for _, tc := range []struct {
		name      string
		tweak     func(*node.Config)
		main      []try // on the main listener
		separate  []try // on metrics_listen
		separated bool
	}{
		{"development mode", nil, []try{{"", 200}}, nil, false},
		{"production, neither set: admin token", func(c *node.Config) { c.Keys = testKeys },
			[]try{{"", 401}, {user, 401}, {"garbage", 401}, {admin, 200}}, nil, false},
		{"production, metrics_token", func(c *node.Config) { c.Keys, c.MetricsToken = testKeys, secret },
			[]try{{"", 401}, {secret + "x", 401}, {secret[:len(secret)-1], 401}, {user, 401}, {secret, 200}, {admin, 200}}, nil, false},
		{"development mode, metrics_token", func(c *node.Config) { c.MetricsToken = secret },
			[]try{{"", 401}, {secret, 200}}, nil, false},
		{"production, metrics_listen", func(c *node.Config) { c.Keys = testKeys },
			[]try{{"", 404}, {admin, 404}}, []try{{"", 200}}, true},
		{"production, metrics_listen and metrics_token", func(c *node.Config) { c.Keys, c.MetricsToken = testKeys, secret },
			[]try{{"", 404}, {secret, 404}}, []try{{"", 401}, {"wrong-0123456789abcdef", 401}, {secret, 200}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maddr := ""
			n := nodetest.Start(t, func(c *node.Config) {
				if tc.tweak != nil {
					tc.tweak(c)
				}
				if tc.separated {
					maddr = freeAddr(t)
					c.MetricsListen = maddr
				}
			})
			check := func(base string, tries []try) {
				t.Helper()
				for _, tr := range tries {
					code, body := request(t, http.MethodGet, base+"/metrics", tr.token, "")
					if code != tr.want {
						t.Errorf("GET %s/metrics with token %.12q: %d, want %d", base, tr.token, code, tr.want)
					}
					if has := strings.Contains(body, "sfu_participants"); has != (tr.want == 200) {
						t.Errorf("GET %s/metrics with token %.12q: figures given = %v", base, tr.token, has)
					}
				}
			}
			check("http://"+n.Addr().String(), tc.main)
			if tc.separated {
				check("http://"+maddr, tc.separate)
			}
		})
	}
}

// TestRevokeEndpoint revokes through POST /admin/revoke on a production
// node: a connected identity is disconnected and refused on rejoin, a
// revoked jti refuses that token only, and a revoked admin token loses
// its access.
func TestRevokeEndpoint(t *testing.T) {
	n := nodetest.Start(t, func(c *node.Config) { c.Keys = testKeys })
	base := "http://" + n.Addr().String()
	ws := "ws://" + n.Addr().String() + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := signaling.Grants{Publish: true, Subscribe: true}
	admin := mintTest(t, "any", "operator", signaling.Grants{Admin: true})
	dial := func(token string) (*loadtest.Client, error) {
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: ws, Token: token, LoopbackOnly: true})
		if err == nil {
			t.Cleanup(c.Close)
		}
		return c, err
	}
	revoke := func(token, body string) (int, map[string]any) {
		t.Helper()
		code, text := request(t, http.MethodPost, base+"/admin/revoke", token, body)
		var out map[string]any
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			t.Fatalf("POST /admin/revoke %s: %d %q is not JSON", body, code, text)
		}
		return code, out
	}

	wantPong := func(c *loadtest.Client) {
		t.Helper()
		if err := c.Send(map[string]string{"type": "ping"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "pong" }); err != nil {
			t.Fatalf("%s's session: %v", c.Self.Identity, err)
		}
	}

	stays, err := dial(mintTest(t, "hall", "ann", all))
	if err != nil {
		t.Fatal(err)
	}
	goes, err := dial(mintTest(t, "hall", "bob", all))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		token, body string
		want        int
	}{
		{"", `{"identity": "bob"}`, 401},
		{mintTest(t, "hall", "ann", all), `{"identity": "bob"}`, 401},
		{admin, `{}`, 400},
		{admin, `{"jti": "a", "identity": "bob"}`, 400},
		{admin, `{"jti": "a", "room": "hall"}`, 400},
		{admin, `{"identity": "bob", "until": "2001-01-01T00:00:00Z"}`, 400},
		{admin, `{"identity": "bob", "until": "tomorrow"}`, 400},
		{admin, `{"identity": "bob", "extra": 1}`, 400},
		{admin, `not json`, 400},
	} {
		if code, out := revoke(tc.token, tc.body); code != tc.want || out["error"] == nil {
			t.Errorf("POST %s: %d %v, want %d with an error", tc.body, code, out, tc.want)
		}
	}
	if code, _ := request(t, http.MethodGet, base+"/admin/revoke", admin, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /admin/revoke: %d, want 405", code)
	}
	wantPong(goes) // the refused requests left bob alone

	// bob, in the hall, for a minute: his session is closed.
	until := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	code, out := revoke(admin, fmt.Sprintf(`{"identity": "bob", "room": "hall", "until": %q}`, until.Format(time.RFC3339)))
	if code != 200 || out["revoked"] != "identity" || out["until"] != until.Format(time.RFC3339) || out["disconnected"] != float64(1) {
		t.Fatalf("revoking bob: %d %v", code, out)
	}
	if m, err := goes.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "error" }); err != nil || m.Code != signaling.CodeTokenRevoked {
		t.Fatalf("bob was not told: %v %s", err, m.Raw)
	}
	if m, err := goes.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "close" }); err != nil || m.Code != "4401" {
		t.Fatalf("bob's socket: %v %+v", err, m)
	}
	if _, err := stays.WaitFor(ctx, func(m loadtest.Message) bool { return m.Leaves(goes.Self.ID) }); err != nil {
		t.Fatalf("ann was not told bob left: %v", err)
	}
	if _, err := dial(mintTest(t, "hall", "bob", all)); err == nil || !strings.Contains(err.Error(), signaling.CodeTokenRevoked) {
		t.Fatalf("bob rejoining with a new token: %v, want %s", err, signaling.CodeTokenRevoked)
	}
	if _, err := dial(mintTest(t, "kitchen", "bob", all)); err != nil {
		t.Fatalf("bob in another room: %v", err)
	}

	// One token by its jti: that token is refused, a new one for the same
	// identity is not.
	tok := mintTest(t, "hall", "cat", all)
	claims, err := n.Keys().Verify(tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, out := revoke(admin, fmt.Sprintf(`{"jti": %q}`, claims.ID)); code != 200 || out["revoked"] != "jti" || out["disconnected"] != float64(0) {
		t.Fatalf("revoking a jti: %d %v", code, out)
	}
	if _, err := dial(tok); err == nil || !strings.Contains(err.Error(), signaling.CodeTokenRevoked) {
		t.Fatalf("the revoked token: %v, want %s", err, signaling.CodeTokenRevoked)
	}
	if _, err := dial(mintTest(t, "hall", "cat", all)); err != nil {
		t.Fatalf("another token of cat: %v", err)
	}

	// A revoked admin token is no longer an admin token.
	admin2 := mintTest(t, "any", "deputy", signaling.Grants{Admin: true})
	if code, _ := revoke(admin, `{"identity": "deputy"}`); code != 200 {
		t.Fatalf("revoking deputy: %d", code)
	}
	if code, _ := request(t, http.MethodGet, base+"/debug/rooms/hall", admin2, ""); code != http.StatusUnauthorized {
		t.Errorf("a revoked admin token on /debug/rooms: %d, want 401", code)
	}
	if code, _ := revoke(admin2, `{"identity": "ann"}`); code != http.StatusUnauthorized {
		t.Errorf("a revoked admin token revoking: %d, want 401", code)
	}
	wantPong(stays)
}
