package signaling_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// TestUndecodableTrackNotOffered: a subscriber whose answers accept no
// codec for a publisher's video (it takes VP9 only; the publisher sends
// VP8) is told so once, with the codec, still hears the publisher's
// audio, and is not offered the track again and again; the server logs
// why at info; another subscriber in the room receives everything. The
// room asks each VP8 publisher once to send VP9, which everybody decodes.
func TestUndecodableTrackNotOffered(t *testing.T) {
	logs := &logBuffer{}
	ts := newTestServerFull(t, nil, nil, logs.logger())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := ts.join(ctx, "mixed")
	mustPublish(t, pub)
	vp9 := ts.join(ctx, "mixed", func(o *loadtest.Options) { o.SubscribeCodec = "video/VP9" })
	vp8 := ts.join(ctx, "mixed")

	m, err := vp9.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "track_undecodable" || m.Type == "error" })
	if err != nil || m.Type != "track_undecodable" || m.ParticipantID != pub.Self.ID || m.Kind != "video" || !strings.EqualFold(m.Codec, "video/VP8") || m.TrackID == "" {
		t.Fatalf("%+v (%v), want track_undecodable for the publisher's VP8 video", m, err)
	}
	// The room asks the publisher, once, for its video in the first codec
	// everybody decodes; the Go client cannot send VP9, so it keeps VP8.
	c, err := pub.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" })
	if err != nil || c.TrackID != m.TrackID || c.Kind != "video" || c.Codec != "video/VP9" || !strings.EqualFold(c.From, "video/VP8") {
		t.Fatalf("publisher: %+v (%v), want codec video/VP9 from VP8 for track %s", c, err, m.TrackID)
	}
	receivesFrom(t, vp8, pub.Self.ID, 30)
	eventually(t, 10*time.Second, "the VP9-only subscriber hearing the publisher", func() bool {
		a, ok := audioFrom(vp9, pub.Self.ID)
		return ok && a.Packets > 50
	})
	offers := testutil.ToFloat64(ts.metrics.SubscriberOffersOut)
	time.Sleep(2 * time.Second)
	if n := testutil.ToFloat64(ts.metrics.SubscriberOffersOut) - offers; n != 0 {
		t.Errorf("%v subscriber offers in 2 s of a steady room, want none (no renegotiation loop)", n)
	}
	undecodable, errs := 0, 0
	for _, m := range vp9.Messages() {
		switch m.Type {
		case "track_undecodable":
			undecodable++
		case "error", "client_error":
			errs++
			t.Logf("%s %s %s", m.Type, m.Code, m.Message)
		}
	}
	if undecodable != 1 || errs != 0 {
		t.Errorf("the VP9-only subscriber got %d track_undecodable and %d errors, want 1 and 0", undecodable, errs)
	}
	if v, ok := videoFrom(vp9, pub.Self.ID); ok && v.Packets > 0 {
		t.Errorf("the VP9-only subscriber received %d packets of the VP8 video", v.Packets)
	}
	if l := logs.lines("level=INFO", "cannot decode its codec", "codec=video/vp8", "publisher="+pub.Self.ID); len(l) != 1 {
		t.Errorf("info lines about the undecodable track: %q, want one", l)
	}
	if l := logs.lines("level=INFO", "asked to change video codec", "publisher="+pub.Self.ID, "to=video/VP9"); len(l) != 1 {
		t.Errorf("info lines about the publisher's codec: %q, want one", l)
	}
	asked := 0
	for _, m := range pub.Messages() {
		if m.Type == "codec" {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("the publisher was asked %d times to change codec, want once", asked)
	}

	// A second publisher's VP8 video is not offered to it at all.
	pub2 := ts.join(ctx, "mixed")
	mustPublish(t, pub2)
	if _, err := vp9.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "track_undecodable" && m.ParticipantID == pub2.Self.ID
	}); err != nil {
		t.Fatal(err)
	}
	if c, err := pub2.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" }); err != nil || c.Codec != "video/VP9" {
		t.Errorf("second publisher: %+v (%v), want codec video/VP9", c, err)
	}
	receivesFrom(t, vp8, pub2.Self.ID, 30)
	noErrors(t, vp9)
}

// TestJoinCodecs: a subscriber that says in join that it decodes VP9
// only is never offered the VP8 publisher's video (it is told
// track_undecodable before any offer carries it), and the room asks the
// publisher for VP9 at once. A join listing too many codecs, or an empty
// one, is refused with bad_message.
func TestJoinCodecs(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := ts.join(ctx, "declared")
	mustPublish(t, pub)
	vp9 := ts.join(ctx, "declared", func(o *loadtest.Options) {
		o.SubscribeCodec = "video/VP9"
		o.JoinCodecs = []string{"video/VP9", "video/AV1"}
	})
	m, err := vp9.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "track_undecodable" || m.Type == "offer" && strings.Contains(m.SDP, "m=video")
	})
	if err != nil || m.Type != "track_undecodable" || m.ParticipantID != pub.Self.ID || !strings.EqualFold(m.Codec, "video/VP8") {
		t.Fatalf("%+v (%v), want track_undecodable for the VP8 video before any offer with video", m, err)
	}
	if c, err := pub.WaitFor(ctx, func(m loadtest.Message) bool { return m.Type == "codec" }); err != nil || c.Codec != "video/VP9" || c.TrackID != m.TrackID {
		t.Fatalf("publisher: %+v (%v), want codec video/VP9 for %s", c, err, m.TrackID)
	}
	eventually(t, 10*time.Second, "the VP9-only subscriber hearing the publisher", func() bool {
		a, ok := audioFrom(vp9, pub.Self.ID)
		return ok && a.Packets > 50
	})
	noErrors(t, vp9)

	for name, codecs := range map[string][]string{
		"too many": slices.Repeat([]string{"video/VP8"}, 33),
		"empty":    {""},
	} {
		_, err := loadtest.Dial(ctx, loadtest.Options{URL: ts.wsURL, Token: ts.token("declared", allGrants), LoopbackOnly: true, JoinCodecs: codecs})
		var se *loadtest.ServerError
		if !errors.As(err, &se) || se.Code != signaling.CodeBadMessage {
			t.Errorf("join with %s codecs: %v, want %s", name, err, signaling.CodeBadMessage)
		}
	}
}
