package sfu_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// TestRelayCarriesMedia publishes on node A and subscribes on node B of a
// room relayed between them: B's subscriber sees A's participants, gets
// their media, and its keyframe requests reach the publisher, which
// makes keyframes only when asked; it sees them leave when they leave,
// and when the relay closes.
func TestRelayCarriesMedia(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})
	media := loadtest.DefaultMedia
	media.KeyframeEvery = time.Hour // only keyframes someone asks for

	pub := a.join(ctx, "relay")
	if err := pub.Publish(media); err != nil {
		t.Fatal(err)
	}
	stay := a.join(ctx, "relay") // a participant of A that publishes nothing
	sub := b.join(ctx, "relay")
	// The publisher's first keyframe goes by before the relay exists.
	eventually(t, 10*time.Second, "media at A", func() bool { return a.sfu.Load().PacketsReceived > 100 })

	relay := openRelay(t, a.sfu, b.sfu, "relay", nil)
	if got := seesJoin(t, sub, pub.Self.Identity); got.ID != pub.Self.ID {
		t.Fatalf("B's subscriber told of %+v, want ID %s", got, pub.Self.ID)
	}
	seesJoin(t, sub, stay.Self.Identity)
	seesJoin(t, pub, sub.Self.Identity) // and A's clients see B's
	receivesFrom(t, sub, pub.Self.ID, 30)
	v, _ := trackFrom(sub, pub.Self.ID, "video")
	t.Logf("B's subscriber: %d video frames, %d keyframes, %d missing", v.Frames, v.Keyframes, v.Missing)

	// A keyframe request of B's subscriber reaches the publisher.
	keyframes := v.Keyframes
	eventually(t, 10*time.Second, "a keyframe asked for by B's subscriber", func() bool {
		v, _ = trackFrom(sub, pub.Self.ID, "video")
		if v.Keyframes > keyframes {
			return true
		}
		_ = sub.Subscriber().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: v.SSRC}})
		time.Sleep(100 * time.Millisecond)
		return false
	})

	// A late joiner on B finds A's publisher and its tracks in joined.
	late := b.join(ctx, "relay")
	found := false
	for _, p := range late.Joined.Participants {
		if p.ID == pub.Self.ID {
			found = len(p.Tracks) == 2
		}
	}
	if !found {
		t.Fatalf("joined of a late joiner on B: %+v, want %s with 2 tracks", late.Joined.Participants, pub.Self.ID)
	}
	receivesFrom(t, late, pub.Self.ID, 10)

	// The publisher leaves: B's clients are told, through the relay.
	pub.Leave()
	seesLeave(t, sub, pub.Self.ID)
	seesLeave(t, late, pub.Self.ID)
	// Each track crossed once, and each participant of A was told once.
	count := map[sfu.RelayKind]int{}
	for _, m := range relay.ab.messages() {
		count[m.Kind]++
	}
	if count[sfu.RelayTrack] != 2 || count[sfu.RelayParticipantJoined] != 2 || count[sfu.RelayTrackUnpublished] != 2 || count[sfu.RelayParticipantLeft] != 1 {
		t.Errorf("A sent B %v", count)
	}

	// The relay closes: A's remaining participant leaves B's room, and
	// B's leave A's, as if they had left.
	relay.a.Close()
	select {
	case <-relay.b.Done():
	case <-ctx.Done():
		t.Fatal("B's end did not close after A's bye")
	}
	seesLeave(t, sub, stay.Self.ID)
	seesLeave(t, stay, sub.Self.ID)
	if err := relay.b.Handle(sfu.RelayMessage{V: 1, Kind: sfu.RelayBye}); !errors.Is(err, sfu.ErrClosed) {
		t.Errorf("Handle on a closed relay: %v, want ErrClosed", err)
	}
	if l := b.sfu.Load(); l.Participants != 2 || l.Tracks != 0 {
		t.Errorf("B's load after the relay closed: %+v, want its 2 clients and no tracks", l)
	}
}
