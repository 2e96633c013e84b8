package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// TestRoomDebugEndpoint checks /debug/rooms/NAME and /debug/pprof/ in
// production mode: an admin token is required, and the snapshot shows who publishes what and
// which layer each subscriber gets.
func TestRoomDebugEndpoint(t *testing.T) {
	const keys = "ops:0123456789abcdef0123456789abcdef"
	n := nodetest.Start(t, func(c *node.Config) { c.Keys = keys })
	ks, _ := signaling.ParseKeys(keys)
	mint := func(room, id string, g signaling.Grants) string {
		tok, err := ks.Mint("ops", signaling.TokenRequest{Room: room, Identity: id, Grants: g, TTL: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base := "http://" + n.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	all := signaling.Grants{Publish: true, Subscribe: true}
	pub, err := loadtest.Dial(ctx, loadtest.Options{URL: ws, Token: mint("ops-room", "pub", all), LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := loadtest.Dial(ctx, loadtest.Options{URL: ws, Token: mint("ops-room", "sub", all), LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	media := loadtest.DefaultMedia
	media.Simulcast = true
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}

	get := func(path, token string) (*http.Response, sfu.RoomState) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st sfu.RoomState
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return resp, st
	}
	if resp, _ := get("/debug/rooms/ops-room", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get("/debug/rooms/ops-room", mint("ops-room", "x", all)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token without admin: %d, want 401", resp.StatusCode)
	}
	admin := mint("any", "operator", signaling.Grants{Admin: true})
	if resp, _ := get("/debug/rooms/nope", admin); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown room: %d, want 404", resp.StatusCode)
	}
	// The profiler is an operator endpoint too.
	if resp, _ := get("/debug/pprof/heap", mint("ops-room", "x", all)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("profile, token without admin: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get("/debug/pprof/profile?seconds=0", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("CPU profile, no token: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/debug/pprof/heap", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	heap, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A profile is gzipped protobuf.
	if err != nil || resp.StatusCode != http.StatusOK || len(heap) < 2 || heap[0] != 0x1f || heap[1] != 0x8b {
		t.Errorf("heap profile with an admin token: %d, %d bytes, %v", resp.StatusCode, len(heap), err)
	}

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, st := get("/debug/rooms/ops-room", admin)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("admin: %d", resp.StatusCode)
		}
		var layers, subscribedVideo int
		for _, p := range st.Participants {
			for _, tr := range p.Published {
				if tr.Kind == "video" {
					layers = len(tr.Layers)
				}
			}
			for _, s := range p.Subscriptions {
				if s.Kind == "video" && s.Current >= 0 && p.EstimateBps > 0 {
					subscribedVideo++
				}
			}
		}
		if len(st.Participants) == 2 && layers == 3 && subscribedVideo == 1 {
			out, _ := json.Marshal(st)
			t.Logf("snapshot: %s", out)
			return
		}
		if time.Now().After(deadline) {
			out, _ := json.Marshal(st)
			t.Fatalf("snapshot never showed 2 participants, 3 layers and a video subscription with an estimate: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
