package sfu_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
	"github.com/sfu-project/sfu/sfu"
)

// relayLink carries the messages of one relay end to the other, as the
// cluster's bus does: encoded to JSON and decoded, in order, by a
// goroutine of its own, so that the sending end never waits.
type relayLink struct {
	t    *testing.T
	name string
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// edit, if set, may change a message before it is delivered (a test
	// rewriting the candidates of a description). Set before start.
	edit func(*sfu.RelayMessage)

	mu     sync.Mutex // guards the fields below
	queue  []sfu.RelayMessage
	to     *sfu.Relay
	sent   []sfu.RelayMessage // every message, for the test to count
	errors []error            // what Handle refused
}

func newRelayLink(t *testing.T, name string) *relayLink {
	return &relayLink{t: t, name: name, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// send is the relay's out function.
func (l *relayLink) send(m sfu.RelayMessage) {
	data, err := json.Marshal(m)
	if err != nil {
		l.t.Errorf("%s: encoding %+v: %v", l.name, m, err)
		return
	}
	got, err := sfu.DecodeRelayMessage(data)
	if err != nil {
		l.t.Errorf("%s: decoding %s: %v", l.name, data, err)
		return
	}
	l.mu.Lock()
	l.queue = append(l.queue, got)
	l.sent = append(l.sent, got)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// start delivers the messages, those queued so far first, to the relay
// end to.
func (l *relayLink) start(to *sfu.Relay) {
	l.mu.Lock()
	l.to = to
	l.mu.Unlock()
	go l.run()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *relayLink) run() {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case <-l.wake:
		}
		l.mu.Lock()
		msgs := l.queue
		l.queue = nil
		to := l.to
		l.mu.Unlock()
		for _, m := range msgs {
			if l.edit != nil {
				l.edit(&m)
			}
			if err := to.Handle(m); err != nil && !errors.Is(err, sfu.ErrClosed) {
				l.mu.Lock()
				l.errors = append(l.errors, err)
				l.mu.Unlock()
			}
		}
	}
}

func (l *relayLink) close() {
	close(l.stop)
	<-l.done
}

// messages returns the messages sent so far.
func (l *relayLink) messages() []sfu.RelayMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sfu.RelayMessage(nil), l.sent...)
}

// refused returns what the receiving end refused.
func (l *relayLink) refused() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errors...)
}

// relayPair is the two ends of one relay and the links between them.
type relayPair struct {
	a, b   *sfu.Relay
	ab, ba *relayLink // a's messages to b, b's to a
}

// openRelay opens the relay of room between the SFUs a and b. edit, if
// not nil, is given both links before they start. The relay is closed
// at the end of the test, and the test fails if an end refused a message.
func openRelay(t *testing.T, a, b *sfu.SFU, room string, edit func(ab, ba *relayLink)) *relayPair {
	t.Helper()
	p := &relayPair{ab: newRelayLink(t, "a->b"), ba: newRelayLink(t, "b->a")}
	if edit != nil {
		edit(p.ab, p.ba)
	}
	var err error
	if p.a, err = a.OpenRelay(room, "b", p.ab.send); err != nil {
		t.Fatal(err)
	}
	if p.b, err = b.OpenRelay(room, "a", p.ba.send); err != nil {
		p.a.Close()
		t.Fatal(err)
	}
	p.ab.start(p.b)
	p.ba.start(p.a)
	t.Cleanup(func() {
		p.close()
		for _, l := range []*relayLink{p.ab, p.ba} {
			if errs := l.refused(); len(errs) > 0 {
				t.Errorf("%s: messages refused: %v", l.name, errs)
				for _, m := range l.messages() {
					t.Logf("%s sent: %s %s %s %+v", l.name, m.Kind, m.ParticipantID, m.TrackID, m.Track)
				}
			}
		}
	})
	return p
}

// close closes both ends and stops the links; it is idempotent.
func (p *relayPair) close() {
	p.a.Close()
	p.b.Close()
	for _, l := range []*relayLink{p.ab, p.ba} {
		select {
		case <-l.stop:
		default:
			l.close()
		}
	}
}

// trackFrom returns what c received of the live track of a kind from
// participant id.
func trackFrom(c *loadtest.Client, id, kind string) (loadtest.TrackCounts, bool) {
	for _, tc := range c.Received() {
		if tc.ParticipantID == id && tc.Kind == kind && !tc.Ended {
			return tc, true
		}
	}
	return loadtest.TrackCounts{}, false
}

// receivesFrom waits until c has decodable media from id: a keyframe and
// at least frames video frames, and some audio.
func receivesFrom(t *testing.T, c *loadtest.Client, id string, frames int) {
	t.Helper()
	eventually(t, 20*time.Second, c.Self.ID+" receiving from "+id, func() bool {
		v, ok := trackFrom(c, id, "video")
		a, aok := trackFrom(c, id, "audio")
		return ok && aok && v.Keyframes > 0 && v.Frames >= frames && a.Packets > 10
	})
}

// seesJoin waits until c has been told that the participant with this
// identity is in the room, in joined or a participants message, and
// returns it as c was told.
func seesJoin(t *testing.T, c *loadtest.Client, identity string) loadtest.Participant {
	t.Helper()
	for _, p := range c.Joined.Participants {
		if p.Identity == identity {
			return p
		}
	}
	var found loadtest.Participant
	eventually(t, 15*time.Second, c.Self.ID+" told that "+identity+" joined", func() bool {
		for _, m := range c.Messages() {
			if p, ok := m.Joins(identity); ok {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// seesLeave waits until c has been told that participant id left.
func seesLeave(t *testing.T, c *loadtest.Client, id string) {
	t.Helper()
	eventually(t, 15*time.Second, c.Self.ID+" told that "+id+" left", func() bool {
		for _, m := range c.Messages() {
			if m.Leaves(id) {
				return true
			}
		}
		return false
	})
}
