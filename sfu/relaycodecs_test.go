package sfu_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// TestRelayCarriesUndecodable: node A hears over the relay what node B's
// clients cannot decode, and asks its own publishers. Pat publishes
// H.264 on A; Sam, on B, declared in join that he decodes VP8 only: Pat
// is asked for VP8, and once he sends it anew in VP8 Sam receives it.
// Uma joins B decoding H.264 only, and Sam leaves, his marks with him.
// Vic then publishes VP8 on A: Uma's subscription on B finds it
// undecodable, A hears it and asks Vic, and Pat, for H.264, which
// everybody left decodes (with Sam's marks still counted, nothing would
// be; and Vic's track came after Uma's join, so only her hit, told over
// the relay, can ask him).
func TestRelayCarriesUndecodable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})
	const room = "codecs"
	pat := joinWith(ctx, a, room, func(o *loadtest.Options) { o.PublishCodec = "video/H264" })
	if err := pat.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	sam := joinWith(ctx, b, room, func(o *loadtest.Options) { o.JoinCodecs = []string{"video/VP8"} })
	openRelay(t, a.sfu, b.sfu, room, nil)

	c, err := pat.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" })
	if err != nil || c.Codec != "video/VP8" || c.From != "video/H264" {
		t.Fatalf("Pat: %s %s from %s (%v), want codec video/VP8 from H.264", c.Type, c.Codec, c.From, err)
	}
	// Pat publishes anew in VP8, which crosses the relay to Sam.
	if err := pat.SwitchVideoCodec(c.Codec); err != nil {
		t.Fatal(err)
	}
	receivesFrom(t, sam, pat.Self.ID, 30)

	uma := joinWith(ctx, b, room, func(o *loadtest.Options) { o.JoinCodecs = []string{"video/H264"} })
	seesJoin(t, pat, uma.Self.Identity)
	sam.Close()
	eventually(t, 10*time.Second, "Sam gone from A's room", func() bool {
		st, _ := a.sfu.RoomState(room)
		return !slices.ContainsFunc(st.Participants, func(p sfu.ParticipantState) bool { return p.ID == sam.Self.ID })
	})

	vic := joinWith(ctx, a, room, nil)
	if err := vic.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	if u, err := uma.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_undecodable" && m.ParticipantID == vic.Self.ID }); err != nil || u.Codec != "video/VP8" {
		t.Fatalf("Uma: %s %s (%v), want track_undecodable for Vic's VP8", u.Type, u.Codec, err)
	}
	c, err = vic.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" })
	if err != nil || c.Codec != "video/H264" || c.From != "video/VP8" {
		t.Fatalf("Vic: %s %s from %s (%v), want codec video/H264 from VP8", c.Type, c.Codec, c.From, err)
	}
	// Pat's VP8 track, which Uma could not decode while Sam was there
	// either, is asked for H.264 too.
	c, err = pat.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" && m.From == "video/VP8" })
	if err != nil || c.Codec != "video/H264" {
		t.Fatalf("Pat: %s %s from %s (%v), want codec video/H264 from VP8", c.Type, c.Codec, c.From, err)
	}
}

// joinWith joins a new identity to room on n with the options tweak
// sets, and closes the client at the end of the test.
func joinWith(ctx context.Context, n *testNode, room string, tweak func(*loadtest.Options)) *loadtest.Client {
	n.t.Helper()
	id := fmt.Sprintf("user-%d", identitySeq.Add(1))
	tok, err := n.keys.Mint("test", signaling.TokenRequest{Room: room, Identity: id, Name: id,
		Grants: signaling.Grants{Publish: true, Subscribe: true}, TTL: time.Hour}, time.Now())
	if err != nil {
		n.t.Fatal(err)
	}
	o := loadtest.Options{URL: n.wsURL, Token: tok, LoopbackOnly: true}
	if tweak != nil {
		tweak(&o)
	}
	c, err := loadtest.Dial(ctx, o)
	if err != nil {
		n.t.Fatalf("join %s: %v", room, err)
	}
	n.t.Cleanup(c.Close)
	return c
}
