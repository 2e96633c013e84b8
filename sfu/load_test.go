package sfu_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// TestLoadCountsMedia publishes audio and video to two subscribers and
// compares the SFU's Load with what they received.
func TestLoadCountsMedia(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := newTestNode(t, sfu.Options{})
	if l := n.sfu.Load(); l != (sfu.Load{}) {
		t.Fatalf("load of a new SFU %+v, want zero", l)
	}

	pub := n.join(ctx, "load")
	if err := pub.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	subs := []*loadtest.Client{n.join(ctx, "load"), n.join(ctx, "load")}
	for _, c := range subs {
		eventually(t, 15*time.Second, c.Self.ID+" receiving audio and video", func() bool {
			tracks, packets, _ := receivedFrom(c, pub.Self.ID)
			return tracks == 2 && packets > 100
		})
	}
	l := n.sfu.Load()
	want := sfu.Load{Rooms: 1, Participants: 3, Tracks: 2, Subscriptions: 4}
	if l.Rooms != want.Rooms || l.Participants != want.Participants || l.Tracks != want.Tracks || l.Subscriptions != want.Subscriptions {
		t.Fatalf("load %+v, want %d room, %d participants, %d tracks, %d subscriptions",
			l, want.Rooms, want.Participants, want.Tracks, want.Subscriptions)
	}

	// Over a second and a half: every packet received goes to both
	// subscribers, and what the SFU counts as forwarded is what they get.
	received := func() (packets, bytes int) {
		for _, c := range subs {
			_, p, b := receivedFrom(c, pub.Self.ID)
			packets, bytes = packets+p, bytes+b
		}
		return packets, bytes
	}
	p0, b0 := received()
	before := n.sfu.Load()
	time.Sleep(1500 * time.Millisecond)
	after := n.sfu.Load()
	p1, b1 := received()

	in := after.PacketsReceived - before.PacketsReceived
	out := after.PacketsForwarded - before.PacketsForwarded
	outBytes := after.BytesForwarded - before.BytesForwarded
	inBytes := after.BytesReceived - before.BytesReceived
	t.Logf("in 1.5 s: %d packets (%d bytes) in, %d packets (%d bytes) out; the subscribers got %d packets (%d bytes)",
		in, inBytes, out, outBytes, p1-p0, b1-b0)
	if in < 100 || inBytes < 100*in/10 {
		t.Fatalf("received %d packets, %d bytes, from a publisher of about 140 packets a second", in, inBytes)
	}
	if ratio := float64(out) / float64(in); ratio < 1.8 || ratio > 2.1 {
		t.Errorf("%d packets forwarded for %d received (%.2f each), want 2 each", out, in, ratio)
	}
	// The subscribers' counts, read right after the SFU's, differ from
	// them by the packets in flight, and their bytes by the header
	// extension the subscriber connection adds to each packet.
	if got := float64(p1-p0) / float64(out); got < 0.9 || got > 1.1 {
		t.Errorf("the subscribers got %d packets while the SFU forwarded %d", p1-p0, out)
	}
	if got := float64(outBytes) / float64(b1-b0); got < 0.9 || got > 1.1 {
		t.Errorf("the subscribers got %d bytes while the SFU forwarded %d", b1-b0, outBytes)
	}

	// Counts go down as people leave; the totals never do.
	subs[0].Leave()
	eventually(t, 10*time.Second, "a subscriber's departure", func() bool {
		l := n.sfu.Load()
		return l.Participants == 2 && l.Subscriptions == 2
	})
	pub.Leave()
	subs[1].Leave()
	eventually(t, 10*time.Second, "everybody's departure", func() bool {
		l := n.sfu.Load()
		return l.Rooms == 0 && l.Participants == 0 && l.Tracks == 0 && l.Subscriptions == 0
	})
	end := n.sfu.Load()
	if end.PacketsReceived < after.PacketsReceived || end.BytesReceived < after.BytesReceived ||
		end.PacketsForwarded < after.PacketsForwarded || end.BytesForwarded < after.BytesForwarded {
		t.Fatalf("totals went down: %+v after %+v", end, after)
	}
}
