package signaling_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/datamsg"
	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// dataClient joins room with grants and opens its data channels.
func dataClient(ctx context.Context, t *testing.T, ts *testServer, room string, grants signaling.Grants) *loadtest.Client {
	t.Helper()
	c := ts.join(ctx, room, func(o *loadtest.Options) { o.Token = ts.token(room, grants) })
	if err := c.OpenData(ctx); err != nil {
		t.Fatalf("open data channels: %v", err)
	}
	return c
}

// dataFrom waits until c received payload on topic from sender.
func dataFrom(ctx context.Context, t *testing.T, c *loadtest.Client, from, topic string, payload []byte, lossy bool) {
	t.Helper()
	if _, err := c.WaitData(ctx, func(m loadtest.DataMessage) bool {
		return m.From == from && m.Topic == topic && bytes.Equal(m.Payload, payload) && m.Lossy == lossy
	}); err != nil {
		t.Fatalf("%s did not receive %q on %s from %s (lossy %v): %v", c.Self.ID, payload, topic, from, lossy, err)
	}
}

// readyData sends on topic until every receiver got one message: a
// channel opened a moment ago may not be in the room's roster yet.
func readyData(ctx context.Context, t *testing.T, from *loadtest.Client, lossy bool, to ...*loadtest.Client) {
	t.Helper()
	topic := fmt.Sprintf("ready-%v", lossy)
	for _, rx := range to {
		for {
			if err := from.SendData(topic, []string{rx.Self.ID}, []byte("ready"), lossy); err != nil {
				t.Fatal(err)
			}
			wait, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := rx.WaitData(wait, func(m loadtest.DataMessage) bool { return m.Topic == topic && m.From == from.Self.ID })
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s never reached %s", from.Self.ID, rx.Self.ID)
			}
		}
	}
}

var dataGrants = signaling.Grants{Publish: true, Subscribe: true}

// TestDataDelivery: to all and to one, reliable and lossy; the server
// writes the sender's ID; the sender never gets its own; a client without
// the publish grant opens channels with a data-only offer.
func TestDataDelivery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	room := "data-delivery"
	a := dataClient(ctx, t, ts, room, dataGrants)
	b := dataClient(ctx, t, ts, room, dataGrants)
	// A watcher: no publish grant, data channels alone.
	c := dataClient(ctx, t, ts, room, signaling.Grants{Subscribe: true})
	readyData(ctx, t, a, false, b, c)
	readyData(ctx, t, a, true, b, c)
	readyData(ctx, t, c, false, a)

	for _, lossy := range []bool{false, true} {
		all := []byte(fmt.Sprintf("to all, lossy %v", lossy))
		if err := a.SendData("chat", nil, all, lossy); err != nil {
			t.Fatal(err)
		}
		dataFrom(ctx, t, b, a.Self.ID, "chat", all, lossy)
		dataFrom(ctx, t, c, a.Self.ID, "chat", all, lossy)
		one := []byte(fmt.Sprintf("to b only, lossy %v", lossy))
		if err := a.SendData("direct", []string{b.Self.ID, a.Self.ID, "PA_NOBODY"}, one, lossy); err != nil {
			t.Fatal(err)
		}
		dataFrom(ctx, t, b, a.Self.ID, "direct", one, lossy)
	}
	// The watcher sends too: data needs no publish grant.
	if err := c.SendData("from-watcher", nil, []byte("hi"), false); err != nil {
		t.Fatal(err)
	}
	dataFrom(ctx, t, a, c.Self.ID, "from-watcher", []byte("hi"), false)
	dataFrom(ctx, t, b, c.Self.ID, "from-watcher", []byte("hi"), false)
	// b's message to a alone came after a's "direct" to b: had c received
	// "direct", it would be there by now (one ordered channel from a).
	if err := a.SendData("marker", []string{c.Self.ID}, []byte("m"), false); err != nil {
		t.Fatal(err)
	}
	dataFrom(ctx, t, c, a.Self.ID, "marker", []byte("m"), false)
	for _, m := range c.DataReceived() {
		if m.Topic == "direct" {
			t.Errorf("c received a message addressed to b alone: %+v", m)
		}
	}
	for _, m := range a.DataReceived() {
		if m.From == a.Self.ID {
			t.Errorf("a received its own message: %+v", m)
		}
	}
	noMoreErrors(t, a)
	noMoreErrors(t, c)
}

// TestDataMediaWithoutGrant: a client without the publish grant that
// offers media is refused, data channels or not.
func TestDataMediaWithoutGrant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ts := newTestServer(t, nil)
	c := ts.join(ctx, "data-nogrant", func(o *loadtest.Options) { o.Token = ts.token("data-nogrant", signaling.Grants{Subscribe: true}) })
	if err := c.Publish(loadtest.DefaultMedia); err != nil {
		t.Fatal(err)
	}
	wantError(ctx, t, c, signaling.CodeNotAllowed, "offer")
}

// TestDataRefusals: every limit and bad input is refused with its code,
// ref "data", and loses nothing else: the next good message arrives.
func TestDataRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ts := newTestServerMedia(t, func(c *sfu.Config) { c.Data.MaxMessage = 1024 }, nil)
	room := "data-refusals"
	a := dataClient(ctx, t, ts, room, dataGrants)
	b := dataClient(ctx, t, ts, room, dataGrants)
	readyData(ctx, t, a, false, b)
	no := false
	mute := dataClient(ctx, t, ts, room, signaling.Grants{Publish: true, Subscribe: true, Data: &no})
	// joined told each its limits, or none without the grant.
	if l := a.Joined.DataLimits; l == nil || l.MaxMessage != 1024 || l.BytesPerSecond != float64(sfu.Default().Data.BytesPerSecond) || l.ByteBurst <= 0 || l.MessagesPerSecond <= 0 || l.MessageBurst <= 0 {
		t.Errorf("joined's data limits with the grant: %+v, want max message 1024 and the default rates", l)
	}
	if l := mute.Joined.DataLimits; l != nil {
		t.Errorf("joined's data limits without the grant: %+v, want none", l)
	}

	raw := func(topic string, payload []byte) []byte {
		m, err := datamsg.AppendOutgoing(nil, topic, nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	seq := 0
	// good proves b still gets a's next message, and that nothing that
	// was refused reached it.
	good := func() {
		t.Helper()
		seq++
		p := []byte(fmt.Sprintf("good %d", seq))
		if err := a.SendData("good", nil, p, false); err != nil {
			t.Fatal(err)
		}
		dataFrom(ctx, t, b, a.Self.ID, "good", p, false)
		for _, m := range b.DataReceived() {
			if m.Topic != "good" && !strings.HasPrefix(m.Topic, "ready") {
				t.Fatalf("b received a refused message: %q", m.Topic)
			}
		}
	}
	cases := []struct {
		name string
		send func() error
		code string
	}{
		{"too large", func() error { return a.SendData("big", nil, make([]byte, 1100), false) }, signaling.CodeDataTooLarge},
		{"reserved topic", func() error { return a.SendData("sfu.files", nil, []byte("x"), false) }, signaling.CodeBadTopic},
		{"bad version", func() error { return a.DataChannel(false).Send([]byte{9, 1, 'x', 0}) }, signaling.CodeBadData},
		{"truncated", func() error { return a.DataChannel(false).Send([]byte{1, 40, 'x'}) }, signaling.CodeBadData},
		{"empty", func() error { return a.DataChannel(false).Send(nil) }, signaling.CodeBadData},
		{"text", func() error { return a.DataChannel(false).SendText(string(raw("text", []byte("x")))) }, signaling.CodeBadData},
		{"bad recipient", func() error { return a.DataChannel(true).Send([]byte{1, 1, 't', 1, 0}) }, signaling.CodeBadData},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			wantError(ctx, t, a, tc.code, "data")
			// The next error of the same code within a second is held
			// back; wait it out so the next case sees its own.
			time.Sleep(time.Second)
			good()
		})
	}
	t.Run("no data grant", func(t *testing.T) {
		if err := mute.SendData("x", nil, []byte("x"), false); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, mute, signaling.CodeNotAllowed, "data")
		// It still receives.
		if err := a.SendData("to-mute", []string{mute.Self.ID}, []byte("y"), false); err != nil {
			t.Fatal(err)
		}
		dataFrom(ctx, t, mute, a.Self.ID, "to-mute", []byte("y"), false)
		good()
	})
	t.Run("bad label", func(t *testing.T) {
		dc, err := a.Publisher().CreateDataChannel("files", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := dc.Send([]byte("x")); err == nil {
			t.Log("sent on a channel not yet open")
		}
		wantError(ctx, t, a, signaling.CodeBadDataChannel, "data")
		good()
	})
	t.Run("second channel of a label", func(t *testing.T) {
		time.Sleep(time.Second) // past the hold of the last bad_data_channel
		if _, err := a.Publisher().CreateDataChannel("sfu", nil); err != nil {
			t.Fatal(err)
		}
		wantError(ctx, t, a, signaling.CodeBadDataChannel, "data")
		good() // on the first, which the server kept
	})
	noMoreErrors(t, a)
}
