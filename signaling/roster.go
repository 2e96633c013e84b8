package signaling

import (
	"encoding/json"
	"time"

	"github.com/sfu-project/sfu/sfu"
)

// Roster batching, protocol version 2. Every join and departure is news
// for every other member of the room, so a room of n that k people join
// makes k*n messages, all in the moment they join: 25 subscribers joining
// a room of 400 were 10,000 participant_joined messages for the server to
// encode and write and for the clients to read within a second. With one
// 720p publisher and 25 subscribers joining every 4 s, that burst held up
// everybody's media for 150-300 ms and ended the ramp at 425 and 450
// subscribers; with no roster messages at all it went on to 575 twice.
//
// A version 2 client gets the changes as one participants message per
// rosterInterval at most: the first change after a quiet interval goes at
// once, later ones wait for the interval's end. Order is kept: any other
// message for the client first sends what is held, so a participant is
// always announced before its tracks. A version 1 client gets one
// participant_joined or participant_left per change, as before.
const rosterInterval = 250 * time.Millisecond

// rosterKeep is the most participants a roster's lists keep room for
// between messages.
const rosterKeep = 32

// roster holds a version 2 client's roster changes until they are sent.
// Guarded by conn.sendMu.
type roster struct {
	joined []wireParticipant
	left   []string
	last   time.Time   // when the last participants message was queued
	timer  *time.Timer // sends what is held at the interval's end
	armed  bool        // timer is set
	ended  bool        // the connection ended: nothing more is sent
}

// held reports whether changes wait to be sent.
func (r *roster) held() bool { return len(r.joined) > 0 || len(r.left) > 0 }

// add records ev if it is a join or departure, and reports whether it
// was. Someone who joins and leaves within one interval is in both lists:
// a participant id joins once and leaves once, so applying the joins
// before the departures is always right.
func (r *roster) add(ev sfu.Event) bool {
	switch ev := ev.(type) {
	case sfu.ParticipantJoined:
		r.joined = append(r.joined, toWireParticipant(ev.Participant))
	case sfu.ParticipantLeft:
		r.left = append(r.left, ev.ParticipantID)
	default:
		return false
	}
	return true
}

type participantsMsg struct {
	Type   string            `json:"type"`
	Joined []wireParticipant `json:"joined"`
	Left   []string          `json:"left"`
}

// take encodes what is held as one participants message and forgets it.
func (r *roster) take(now time.Time) ([]byte, error) {
	msg := participantsMsg{Type: "participants", Joined: r.joined, Left: r.left}
	if msg.Joined == nil {
		msg.Joined = []wireParticipant{} // both lists are always there
	}
	if msg.Left == nil {
		msg.Left = []string{}
	}
	data, err := json.Marshal(msg)
	if cap(r.joined) > rosterKeep {
		r.joined, r.left = nil, nil // a burst of joins: let the memory go
	} else {
		clear(r.joined)
		r.joined, r.left = r.joined[:0], r.left[:0]
	}
	r.last = now
	return data, err
}

// sendBatched sends ev to a version 2 client: a roster change is held for
// the next participants message, anything else goes after what is held.
func (c *conn) sendBatched(ev sfu.Event) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	r := &c.roster
	if r.ended {
		return
	}
	if !r.add(ev) {
		c.flushRosterLocked()
		c.sendEvent(ev)
		return
	}
	now := time.Now()
	wait := r.last.Add(rosterInterval).Sub(now)
	switch {
	case wait <= 0:
		c.flushRosterLocked()
	case !r.armed:
		if r.timer == nil {
			r.timer = time.AfterFunc(wait, c.rosterDue)
		} else {
			r.timer.Reset(wait)
		}
		r.armed = true
	}
}

// rosterDue runs at the end of an interval in which changes were held.
func (c *conn) rosterDue() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.roster.armed = false
	if !c.roster.ended {
		c.flushRosterLocked()
	}
}

// flushRosterLocked queues what the roster holds, if anything.
func (c *conn) flushRosterLocked() {
	r := &c.roster
	if !r.held() {
		return
	}
	data, err := r.take(time.Now())
	if err != nil {
		c.log.Error("cannot encode roster changes", "err", err)
		return
	}
	c.enqueue(outMsg{data: data})
}

// endRoster stops the roster's timer; nothing more is sent.
func (c *conn) endRoster() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.roster.ended = true
	if c.roster.timer != nil {
		c.roster.timer.Stop()
	}
}
