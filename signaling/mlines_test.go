package signaling_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/signaling"
)

// sdpSizes records the largest subscriber offer and answer a client saw.
type sdpSizes struct {
	mu                      sync.Mutex
	offer, answer           int // bytes
	offerMLines, answerMLns int
	offers                  int // how many
}

func mLines(sdp string) int { return strings.Count(sdp, "\nm=") }

// sample takes c's current subscriber answer into account.
func (s *sdpSizes) sample(c *loadtest.Client) {
	d := c.Subscriber().LocalDescription()
	if d == nil {
		return
	}
	s.mu.Lock()
	s.answer = max(s.answer, len(d.SDP))
	s.answerMLns = max(s.answerMLns, mLines(d.SDP))
	s.mu.Unlock()
}

// takeOffers takes every subscriber offer c received so far into account.
func (s *sdpSizes) takeOffers(c *loadtest.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offers = 0
	for _, m := range c.Messages() {
		if m.Type == "offer" {
			s.offers++
			s.offer = max(s.offer, len(m.SDP))
			s.offerMLines = max(s.offerMLines, mLines(m.SDP))
		}
	}
}

func (s *sdpSizes) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("offer %d bytes (%d m-lines), answer %d bytes (%d m-lines), of %d offers", s.offer, s.offerMLines, s.answer, s.answerMLns, s.offers)
}

// TestMLinesRecycled has 300 publishers come and go, a few at a time,
// while one participant stays. The staying participant must receive the
// media of every one of them, and its subscriber connection must not
// carry the room's history: the m-lines of departed tracks are reused, so
// its offers and answers stay within twice their size when the room first
// held as many publishers at once.
func TestMLinesRecycled(t *testing.T) {
	const (
		publishers = 300
		atOnce     = 6 // publishers in the room at a time
		room       = "recycle"
	)
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The staying participant answers about two offers a publisher: 300
	// publishers in a few seconds (as fast as it goes without -race) take
	// it over the default rate of messages a client may send.
	ts := newTestServer(t, func(c *signaling.Config) { c.RatePerSecond = 1000 })
	stay := ts.join(ctx, room)
	var sizes sdpSizes

	// receives waits until stay has video (a keyframe) and audio from
	// id, then samples stay's answer, which took id's tracks.
	receives := func(id string) error {
		deadline := time.Now().Add(15 * time.Second)
		for {
			// One snapshot a poll: stay's tracks pile up to hundreds.
			var video, audio bool
			for _, tc := range stay.Received() {
				if tc.ParticipantID == id && !tc.Ended {
					video = video || tc.Kind == "video" && tc.Keyframes > 0
					audio = audio || tc.Kind == "audio" && tc.Packets > 0
				}
			}
			if video && audio {
				sizes.sample(stay)
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no media from %s after 15 s (video: %v, audio: %v)", id, video, audio)
			}
			time.Sleep(40 * time.Millisecond)
		}
	}
	publish := func(i int) (*loadtest.Client, error) {
		// Publishing only, so that they cost the machine little.
		tok := ts.token(room, signaling.Grants{Publish: true})
		c, err := loadtest.Dial(ctx, loadtest.Options{URL: ts.wsURL, Token: tok, LoopbackOnly: true})
		if err != nil {
			return nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		if err := c.Publish(loadtest.DefaultMedia); err != nil {
			c.Close()
			return nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		return c, nil
	}

	// The reference: the first atOnce publishers, all in the room.
	var first []*loadtest.Client
	for i := range atOnce {
		c, err := publish(i)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		first = append(first, c)
	}
	for _, c := range first {
		if err := receives(c.Self.ID); err != nil {
			t.Fatal(err)
		}
	}
	sizes.takeOffers(stay)
	ref := sizes.offer
	refAnswer := sizes.answer
	t.Logf("with %d publishers: %s", atOnce, &sizes)
	for _, c := range first {
		c.Leave()
	}

	// The rest come and go, atOnce at a time, each leaving once stay
	// receives it.
	var next, received atomic.Int64
	next.Store(atOnce - 1)
	received.Store(atOnce)
	errs := make(chan error, atOnce)
	var lastMu sync.Mutex
	var last *loadtest.Client
	for range atOnce {
		go func() {
			for {
				i := int(next.Add(1))
				if i >= publishers || ctx.Err() != nil {
					errs <- nil
					return
				}
				c, err := publish(i)
				if err == nil {
					err = receives(c.Self.ID)
				}
				if err != nil {
					if c != nil {
						c.Close()
					}
					cancel() // the others stop at their next publisher
					errs <- err
					return
				}
				received.Add(1)
				if i == publishers-1 {
					lastMu.Lock()
					last = c // stays, to check that its media keeps flowing
					lastMu.Unlock()
					continue
				}
				c.Leave()
			}
		}()
	}
	failed := false
	for range atOnce {
		if err := <-errs; err != nil {
			t.Error(err)
			failed = true
		}
	}
	if failed {
		for _, m := range stay.Messages() {
			if m.Type == "client_error" || m.Type == "error" {
				t.Logf("the staying participant got %s: %s %s", m.Type, m.Code, m.Message)
			}
		}
		sizes.takeOffers(stay)
		sizes.sample(stay)
		t.Fatalf("%d publishers received; largest seen: %s", received.Load(), &sizes)
	}
	t.Cleanup(last.Close)
	receivesFrom(t, stay, last.Self.ID, 30)
	sizes.takeOffers(stay)
	sizes.sample(stay)
	t.Logf("after %d publishers, largest seen: %s; %d transceivers; %v",
		publishers, &sizes, len(stay.Subscriber().GetTransceivers()), time.Since(started).Round(time.Millisecond))

	for _, m := range stay.Messages() {
		if m.Type == "error" {
			t.Errorf("the staying participant was sent an error: %s: %s", m.Code, m.Message)
		}
	}
	if n, bad := directTakeovers(stay.Messages()); bad != "" {
		t.Errorf("%d m-lines went from one track to another within one offer, without an inactive one answered between (a browser fires no track event then): first %s", n, bad)
	}
	if sizes.offer > 2*ref {
		t.Errorf("largest subscriber offer %d bytes, want at most twice the %d bytes with %d publishers", sizes.offer, ref, atOnce)
	}
	if sizes.answer > 2*refAnswer {
		t.Errorf("largest subscriber answer %d bytes, want at most twice the %d bytes with %d publishers", sizes.answer, refAnswer, atOnce)
	}
}

// directTakeovers counts the m-lines that, from one subscriber offer to
// the next, went from sending one track to sending another (a new msid)
// without an offer in between that made them inactive. It describes the
// first.
func directTakeovers(msgs []loadtest.Message) (n int, first string) {
	sending := map[string]string{} // mid -> msid of the track it sends
	for _, m := range msgs {
		if m.Type != "offer" {
			continue
		}
		for _, section := range strings.Split(m.SDP, "\nm=")[1:] {
			var mid, msid string
			active := false
			for _, line := range strings.Split(section, "\n") {
				line = strings.TrimSpace(line)
				switch {
				case strings.HasPrefix(line, "a=mid:"):
					mid = strings.TrimPrefix(line, "a=mid:")
				case strings.HasPrefix(line, "a=msid:"):
					msid = strings.TrimPrefix(line, "a=msid:")
				case line == "a=sendonly" || line == "a=sendrecv":
					active = true
				}
			}
			if !active {
				delete(sending, mid)
				continue
			}
			if was, ok := sending[mid]; ok && was != msid {
				n++
				if first == "" {
					first = fmt.Sprintf("mid %s: %q then %q", mid, was, msid)
				}
			}
			sending[mid] = msid
		}
	}
	return n, first
}
