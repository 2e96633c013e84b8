package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/node"
	"github.com/sfu-project/sfu/internal/node/nodetest"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// TestCodecAcrossNodes: a room spans two nodes on Redis (node1 takes one
// participant). Pat publishes H.264 on node1; Sam, served by node2,
// cannot decode H.264, which node2 learns from Sam's join (codecs) or,
// when Sam says nothing, from Sam's answer. Sam is told
// track_undecodable; node1, told over the relay, asks Pat once to send
// VP8, and once Pat has republished in VP8 Sam receives the video.
func TestCodecAcrossNodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codecs []string // Sam's join codecs; nil: learnt from the answer
	}{
		{"join codecs", []string{"video/VP8", "video/VP9"}},
		{"answer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := redisStore(t)
			var nodes []*node.Node
			for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
				nodes = append(nodes, nodetest.Start(t, func(c *node.Config) {
					*c = nodetest.Config(ip)
					c.Keys = clusterKeys
					c.Cluster.NodeID = fmt.Sprintf("node%d", i+1)
					c.Cluster.Announce, c.Cluster.NodeTTL = 200*time.Millisecond, time.Second
					c.SFU.P2P.Enabled = false
					if i == 0 {
						c.Cluster.MaxParticipants = 1
					}
				}, node.WithStore(store)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const room = "mixed"
			pat, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(nodes[0]), Token: clusterToken(t, room, "pat"), LoopbackOnly: true, PublishCodec: "video/H264"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pat.Close)
			if err := pat.Publish(loadtest.DefaultMedia); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // node1's announced load catches up
			sam, err := loadtest.Dial(ctx, loadtest.Options{URL: wsURL(nodes[1]), Token: clusterToken(t, room, "sam"), LoopbackOnly: true, JoinCodecs: tc.codecs})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sam.Close)

			u, err := sam.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_undecodable" || m.Type == "error" })
			if err != nil || u.Type != "track_undecodable" || u.ParticipantID != pat.Self.ID || !strings.EqualFold(u.Codec, "video/H264") {
				t.Fatalf("Sam: %s %s %s (%v), want track_undecodable for Pat's H.264 video", u.Type, u.ParticipantID, u.Codec, err)
			}
			if st, ok := nodes[1].SFU().RoomState(room); !ok || !servedHere(st.Participants, sam.Self.ID) {
				t.Fatalf("node2 does not serve Sam (room found: %v): the room does not span the nodes", ok)
			}
			c, err := pat.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" })
			if err != nil || c.TrackID != u.TrackID || c.Kind != "video" || c.Codec != "video/VP8" || !strings.EqualFold(c.From, "video/H264") {
				t.Fatalf("Pat: %s %s %s from %s (%v), want codec video/VP8 from H.264 for track %s", c.Type, c.TrackID, c.Codec, c.From, err, u.TrackID)
			}
			if err := pat.SwitchVideoCodec(c.Codec); err != nil {
				t.Fatal(err)
			}
			if c := settle(time.Now().Add(20*time.Second), func() string {
				if n := videoFrames(sam, pat); n < 30 {
					return fmt.Sprintf("Sam has %d frames of Pat's VP8 video", n)
				}
				return ""
			}); c != "" {
				t.Fatal(c)
			}
			asked, undecodable := 0, 0
			for _, m := range pat.Messages() {
				if m.Type == "codec" {
					asked++
				}
			}
			for _, m := range sam.Messages() {
				switch m.Type {
				case "track_undecodable":
					undecodable++
				case "error":
					t.Errorf("Sam got error %s: %s", m.Code, m.Message)
				}
			}
			if asked != 1 || undecodable != 1 {
				t.Errorf("Pat was asked %d times to switch and Sam told %d times of an undecodable track, want once each", asked, undecodable)
			}
		})
	}
}

// servedHere reports whether id is a client of the node whose room lists ps.
func servedHere(ps []sfu.ParticipantState, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return p.Relay == ""
		}
	}
	return false
}
