package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// A node with two interfaces must answer media from the address it
// advertises (--node-ip), whichever interface its route back to a client
// leaves by. TestMultihomedNode runs the sfu binary in the server of a
// multihomeLab, with --node-ip on A, and two Go clients behind the NAT:
// one publishes, the other subscribes.

// Environment of the clients re-executed inside the client namespace.
const (
	mhURLEnv      = "SFU_MULTIHOME_URL"
	mhPubTokenEnv = "SFU_MULTIHOME_PUB"
	mhSubTokenEnv = "SFU_MULTIHOME_SUB"
)

// multihomeReport is what the clients print every 250 ms.
type multihomeReport struct {
	Publisher, Subscriber string // ICE connection states
	// Audio and Video are what the subscriber received of the publisher.
	Audio, Video loadtest.TrackCounts
}

func (r multihomeReport) String() string {
	return fmt.Sprintf("publisher ICE %s, subscriber ICE %s, received %d audio and %d video packets (%d frames)",
		r.Publisher, r.Subscriber, r.Audio.Packets, r.Video.Packets, r.Video.Frames)
}

// TestMultihomeClientProcess is the two clients inside the lab's client
// namespace; in a normal test run it does nothing.
func TestMultihomeClientProcess(t *testing.T) {
	url := os.Getenv(mhURLEnv)
	if url == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "multihome clients:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := func(token string) loadtest.Options {
		return loadtest.Options{URL: url, Token: token, AllowIPs: []net.IP{net.ParseIP(mhClientIP)}}
	}
	// The server may still be starting.
	var pub *loadtest.Client
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if pub, err = loadtest.Dial(ctx, opts(os.Getenv(mhPubTokenEnv))); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		fail(err)
	}
	defer pub.Close()
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		fail(err)
	}
	sub, err := loadtest.Dial(ctx, opts(os.Getenv(mhSubTokenEnv)))
	if err != nil {
		fail(err)
	}
	defer sub.Close()
	gone := loadtest.ParentGone()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-gone:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r := multihomeReport{Publisher: pub.Publisher().ICEConnectionState().String(), Subscriber: sub.Subscriber().ICEConnectionState().String()}
		for _, tc := range sub.Received() {
			switch {
			case tc.ParticipantID != pub.Self.ID || tc.Ended:
			case tc.Kind == "audio":
				r.Audio = tc
			case tc.Kind == "video":
				r.Video = tc
			}
		}
		if err := loadtest.Report(r); err != nil {
			fail(err)
		}
	}
}

func TestMultihomedNode(t *testing.T) {
	lab := newMultihomeLab(t)
	bin := sfuBinary(t)

	t.Run("media socket on the advertised address", func(t *testing.T) {
		lab.startServer(t, bin, "")
		adv0, other0 := lab.answers(t)
		clients := lab.startClients(t)
		var last multihomeReport
		connected := func(s string) bool { return s == "connected" || s == "completed" }
		for deadline := time.Now().Add(30 * time.Second); ; {
			if ok, err := clients.Next(&last, time.Second); err != nil {
				t.Fatalf("clients: %v", err)
			} else if ok && connected(last.Publisher) && connected(last.Subscriber) && last.Audio.Packets >= 50 && last.Video.Frames >= 30 {
				break
			}
			if time.Now().After(deadline) {
				adv, other := lab.answers(t)
				t.Fatalf("no media after 30 s: %v; from the media port over B: %d packets from the advertised address, %d from B's",
					last, adv-adv0, other-other0)
			}
		}
		adv, other := lab.answers(t)
		t.Logf("%v; from the media port over B: %d packets from the advertised address, %d from B's", last, adv-adv0, other-other0)
		// The answers took the asymmetric path, with the right source.
		if adv-adv0 == 0 || other-other0 != 0 {
			t.Errorf("the server's media reached the NAT over B with %d packets from %s and %d from %s; want some and none",
				adv-adv0, mhAdvertised, other-other0, mhOther)
		}
	})

	// The control: bound to every address, as the server used to be, its
	// answers leave with B's address, which the NAT cannot match to the
	// client's mapping: signaling (TCP, whose accepted socket answers from
	// the address it was reached at) works, media never does.
	t.Run("media socket on every address", func(t *testing.T) {
		lab.startServer(t, bin, "0.0.0.0")
		adv0, other0 := lab.answers(t)
		clients := lab.startClients(t)
		var last multihomeReport
		reports := 0
		for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
			ok, err := clients.Next(&last, time.Second)
			if err != nil {
				t.Fatalf("clients: %v", err)
			}
			if !ok {
				continue
			}
			reports++
			if last.Publisher == "connected" || last.Subscriber == "connected" || last.Audio.Packets > 0 || last.Video.Packets > 0 {
				t.Fatalf("media flowed from a socket on every address (%v): the lab does not reproduce the asymmetric route", last)
			}
		}
		adv, other := lab.answers(t)
		t.Logf("after 8 s: %v; from the media port over B: %d packets from the advertised address, %d from B's", last, adv-adv0, other-other0)
		if reports == 0 {
			t.Fatal("the clients did not join: signaling failed too")
		}
		if other-other0 == 0 || adv-adv0 != 0 {
			t.Errorf("the server's answers reached the NAT over B with %d packets from %s and %d from %s; want none and some",
				adv-adv0, mhAdvertised, other-other0, mhOther)
		}
	})
}

// startServer runs the sfu binary in the lab's server namespace with
// --node-ip on A, its media socket bound as mediaBind says (empty: the
// default), until the test ends.
func (l *multihomeLab) startServer(t *testing.T, bin, mediaBind string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "sfu.yaml")
	yaml := fmt.Sprintf("sfu:\n  remote_networks: [%s/32, 192.168.50.0/24]\n", mhNATOutside)
	if mediaBind != "" {
		yaml += fmt.Sprintf("  media_bind: %s\n", mediaBind)
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd := loadtest.CommandIn(context.Background(), l.server, bin,
		"--listen", net.JoinHostPort(mhAdvertised, fmt.Sprint(mhHTTPPort)), "--udp-port", fmt.Sprint(mhMediaPort),
		"--node-ip", mhAdvertised, "--keys", "test:"+mhSecret, "--config", cfg, "--log", logLevel())
	cmd.Stdout = io.Discard
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // ip netns exec execs the binary: this is the sfu
		<-done
		if t.Failed() || os.Getenv("SFU_STDERR") != "" {
			t.Logf("sfu stderr:\n%s", stderr.String())
		}
	})
}

const mhSecret = "0123456789abcdef0123456789abcdef"

// startClients starts the publisher and the subscriber in the lab's
// client namespace, stopped when the test ends.
func (l *multihomeLab) startClients(t *testing.T) *loadtest.Child {
	t.Helper()
	keys := signaling.Keys{"test": mhSecret}
	token := func(id string, g signaling.Grants) string {
		tok, err := keys.Mint("test", signaling.TokenRequest{Room: "multihome", Identity: id, Name: id, Grants: g, TTL: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	c, err := loadtest.StartSelfIn(l.client, []string{
		mhURLEnv + "=ws://" + net.JoinHostPort(mhAdvertised, fmt.Sprint(mhHTTPPort)) + "/ws",
		mhPubTokenEnv + "=" + token("publisher", signaling.Grants{Publish: true, Subscribe: true}),
		mhSubTokenEnv + "=" + token("subscriber", signaling.Grants{Subscribe: true}),
	}, "-test.run=^TestMultihomeClientProcess$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("clients: %v\n%s", err, strings.TrimSpace(c.Stderr()))
		}
	})
	return c
}
