package sfu_test

import (
	"context"
	"errors"
	"strings"
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

	// The publisher mutes its audio: B's subscriber is told.
	if err := pub.Send(map[string]any{"type": "mute", "kind": "audio", "muted": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.WaitFor(ctx, func(m loadtest.Message) bool {
		return m.Type == "track_muted" && m.ParticipantID == pub.Self.ID && m.Muted && m.Kind == "audio"
	}); err != nil {
		t.Fatalf("B's subscriber not told of the mute: %v", err)
	}

	// A late joiner on B finds A's publisher and its tracks in joined,
	// the audio muted.
	late := b.join(ctx, "relay")
	found := false
	for _, p := range late.Joined.Participants {
		if p.ID == pub.Self.ID && len(p.Tracks) == 2 {
			for _, tr := range p.Tracks {
				found = found || (tr.Kind == "audio" && tr.Muted)
			}
		}
	}
	if !found {
		t.Fatalf("joined of a late joiner on B: %+v, want %s with 2 tracks, the audio muted", late.Joined.Participants, pub.Self.ID)
	}
	receivesFrom(t, late, pub.Self.ID, 10) // muted audio still flows: the client sends it

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
	var offer string
	eventually(t, 10*time.Second, "the offer that ends the tracks", func() bool {
		msgs := relay.ab.messages()
		offer = msgs[len(msgs)-1].SDP
		return strings.Count(offer, "a=inactive") == 2
	})
	t.Logf("the relay's last offer: %d bytes for %d m-lines", len(offer), strings.Count(offer, "\nm="))

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

// TestRelayFullMesh relays a room among three nodes, each relay in both
// directions, with a publisher on each node: everybody receives everybody
// else, and each track crosses each link once, sent by its publisher's
// node only.
func TestRelayFullMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := []*testNode{newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})}
	clients := make([]*loadtest.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = n.join(ctx, "mesh")
		if err := clients[i].Publish(loadtest.DefaultMedia); err != nil {
			t.Fatal(err)
		}
	}
	type link struct {
		from, to int
		l        *relayLink
	}
	var links []link
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			p := openRelay(t, nodes[i].sfu, nodes[j].sfu, "mesh", nil)
			links = append(links, link{i, j, p.ab}, link{j, i, p.ba})
		}
	}
	for i, c := range clients {
		for j, o := range clients {
			if i != j {
				receivesFrom(t, c, o.Self.ID, 30)
			}
		}
	}
	for _, l := range links {
		tracks, joined := map[string]bool{}, map[string]bool{}
		for _, m := range l.l.messages() {
			switch m.Kind {
			case sfu.RelayTrack:
				if m.ParticipantID != clients[l.from].Self.ID {
					t.Errorf("node %d sent node %d a track of %s, not its own client's", l.from, l.to, m.ParticipantID)
				}
				tracks[m.Track.ID] = true
			case sfu.RelayParticipantJoined:
				joined[m.Participant.ID] = true
			}
		}
		if len(tracks) != 2 || len(joined) != 1 || !joined[clients[l.from].Self.ID] {
			t.Errorf("node %d sent node %d %d tracks and participants %v; want its client's 2 tracks and itself", l.from, l.to, len(tracks), joined)
		}
	}
	// Each node: its client's 2 tracks and the 4 imported; its client
	// receives the 4 imported, and each of its 2 relays sends the 2 local.
	for i, n := range nodes {
		if l := n.sfu.Load(); l.Participants != 1 || l.Tracks != 6 || l.Subscriptions != 8 {
			t.Errorf("node %d: %+v, want 1 participant, 6 tracks, 8 subscriptions", i, l)
		}
		st, _ := n.sfu.RoomState("mesh")
		kinds := map[string]int{}
		for _, p := range st.Participants {
			kinds[p.Relay]++
		}
		if kinds[""] != 1 || kinds["imported"] != 2 || kinds["sending"] != 2 {
			t.Errorf("node %d's room state lists %v", i, kinds)
		}
	}
}

// TestRelayRoomsShareNodes relays two rooms between the same two nodes,
// media flowing both ways in each: four connections between the same two
// hosts, each with its own pair of addresses.
func TestRelayRoomsShareNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, sfu.Options{})
	type pair struct{ onA, onB *loadtest.Client }
	var pairs []pair
	for _, room := range []string{"one", "two"} {
		p := pair{a.join(ctx, room), b.join(ctx, room)}
		for _, c := range []*loadtest.Client{p.onA, p.onB} {
			if err := c.Publish(loadtest.DefaultMedia); err != nil {
				t.Fatal(err)
			}
		}
		pairs = append(pairs, p)
		openRelay(t, a.sfu, b.sfu, room, nil)
	}
	for _, p := range pairs {
		receivesFrom(t, p.onA, p.onB.Self.ID, 30)
		receivesFrom(t, p.onB, p.onA.Self.ID, 30)
	}
	for i, p := range pairs {
		other := pairs[1-i]
		for _, c := range []*loadtest.Client{p.onA, p.onB} {
			for _, o := range []*loadtest.Client{other.onA, other.onB} {
				if tracks, _, _ := receivedFrom(c, o.Self.ID); tracks != 0 {
					t.Errorf("%s received %d tracks from %s, of another room", c.Self.ID, tracks, o.Self.ID)
				}
			}
		}
	}
}

// TestRelayEndsWithItsRoom: a relay ends when the last client of its room
// on either node leaves, or when either SFU closes, and the other end
// follows; the room is then removed as if the relay had never been.
func TestRelayEndsWithItsRoom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logB roomLog
	a, b := newTestNode(t, sfu.Options{}), newTestNode(t, logB.options())
	done := func(r *sfu.Relay, what string) {
		t.Helper()
		select {
		case <-r.Done():
		case <-ctx.Done():
			t.Fatalf("%s did not end", what)
		}
	}

	pub, sub := a.join(ctx, "ends"), b.join(ctx, "ends")
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	relay := openRelay(t, a.sfu, b.sfu, "ends", nil)
	receivesFrom(t, sub, pub.Self.ID, 10)
	sub.Leave()
	done(relay.b, "B's end, its last client gone")
	done(relay.a, "A's end, told by B")
	eventually(t, 10*time.Second, "B's room removed", func() bool { return b.sfu.Load().Rooms == 0 })
	if got := logB.get(); len(got) != 2 || got[1] != "-ends" {
		t.Errorf("B's room hooks: %q", got)
	}
	if l := a.sfu.Load(); l.Rooms != 1 || l.Participants != 1 || l.Tracks != 2 || l.Subscriptions != 0 {
		t.Errorf("A after the relay ended: %+v, want its publisher alone", l)
	}

	// Again, and A closes.
	sub = b.join(ctx, "ends")
	relay = openRelay(t, a.sfu, b.sfu, "ends", nil)
	receivesFrom(t, sub, pub.Self.ID, 10)
	if err := a.sfu.Close(); err != nil {
		t.Fatal(err)
	}
	done(relay.a, "A's end, its SFU closed")
	done(relay.b, "B's end, told by A")
	seesLeave(t, sub, pub.Self.ID)
	if l := b.sfu.Load(); l.Participants != 1 || l.Tracks != 0 {
		t.Errorf("B after the relay ended: %+v, want its client alone", l)
	}
}
