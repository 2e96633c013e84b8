package loadtest

import (
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// restartGrace is how long the publisher connection may stay
// disconnected before the client restarts its ICE: long enough for a
// brief loss to pass, short against the pause a changed network causes
// (signaling/PROTOCOL.md, "ICE restarts").
const restartGrace = 2 * time.Second

// iceRestarts counts the ICE restarts of the client's connections to the
// server and serialises the publisher connection's offers.
type iceRestarts struct {
	offerMu sync.Mutex // held while a publisher offer is made and sent

	mu         sync.Mutex // guards the fields below
	pub, sub   int
	restarting bool // a publisher restart is under way
}

// ICERestarts returns how many times the publisher connection's ICE was
// restarted by this client and the subscriber connection's by the server.
func (c *Client) ICERestarts() (publisher, subscriber int) {
	c.restarts.mu.Lock()
	defer c.restarts.mu.Unlock()
	return c.restarts.pub, c.restarts.sub
}

// watchPublisher restarts the publisher connection's ICE when it goes
// failed, or stays disconnected for restartGrace: the client offers, so
// it restarts; it never rejoins for this.
func (c *Client) watchPublisher() {
	c.pub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateDisconnected:
			c.goTracked(func() {
				t := time.NewTimer(restartGrace)
				defer t.Stop()
				select {
				case <-c.stop:
					return
				case <-t.C:
				}
				if c.pub.ConnectionState() == webrtc.PeerConnectionStateDisconnected {
					c.restartPublisher()
				}
			})
		case webrtc.PeerConnectionStateFailed:
			c.goTracked(c.restartPublisher)
		}
	})
}

// watchSubscriber asks the server for an ICE restart of the subscriber
// connection, which the server offers, when the connection goes
// disconnected or failed: the client may notice first. The server
// restarts it by itself too, and ignores a request while a restart is
// under way.
func (c *Client) watchSubscriber() {
	c.sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateDisconnected || st == webrtc.PeerConnectionStateFailed {
			_ = c.Send(map[string]any{"type": "restart", "target": "subscriber"})
		}
	})
}

// restartPublisher offers with an ICE restart, unless a restart is under
// way. An offer still unanswered is waited for: the restart follows it.
func (c *Client) restartPublisher() {
	r := &c.restarts
	r.mu.Lock()
	if r.restarting {
		r.mu.Unlock()
		return
	}
	r.restarting = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.restarting = false
		r.mu.Unlock()
	}()
	for c.pub.SignalingState() != webrtc.SignalingStateStable {
		select {
		case <-c.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := c.offerWith(&webrtc.OfferOptions{ICERestart: true}); err != nil {
		c.inbox.put(Message{Type: "client_error", Message: "publisher ICE restart: " + err.Error()})
		return
	}
	r.mu.Lock()
	r.pub++
	r.mu.Unlock()
}

// offerWith sends a new offer for the publisher connection. Candidates
// gathered meanwhile (a restart gathers anew) follow the offer.
func (c *Client) offerWith(opts *webrtc.OfferOptions) error {
	c.restarts.offerMu.Lock()
	defer c.restarts.offerMu.Unlock()
	if opts != nil && opts.ICERestart {
		c.pubGate.close()
		defer c.pubGate.release(func(init webrtc.ICECandidateInit) {
			_ = c.Send(map[string]any{"type": "candidate", "target": "publisher", "candidate": init})
		})
	}
	offer, err := c.pub.CreateOffer(opts)
	if err != nil {
		return err
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		return err
	}
	msg := map[string]any{"type": "offer", "sdp": offer.SDP}
	if sources := c.sources(); sources != nil {
		msg["sources"] = sources
	}
	return c.Send(msg)
}

// sources is what the next offer names of its tracks' sources by mid:
// the video's Media.Source, nil when there is none.
func (c *Client) sources() map[string]string {
	if c.videoSource == "" || c.videoSender == nil {
		return nil
	}
	for _, t := range c.pub.GetTransceivers() {
		if t.Sender() == c.videoSender && t.Mid() != "" {
			return map[string]string{t.Mid(): c.videoSource}
		}
	}
	return nil
}

// countSubscriberRestart counts a server offer whose ICE username
// fragment differs from the one applied before it: an ICE restart.
func (c *Client) countSubscriberRestart(offer string) {
	cur := c.sub.RemoteDescription()
	if cur == nil {
		return
	}
	if old, now := descriptionUfrag(cur.SDP), descriptionUfrag(offer); old != "" && now != "" && old != now {
		c.restarts.mu.Lock()
		c.restarts.sub++
		c.restarts.mu.Unlock()
	}
}

// descriptionUfrag is the first a=ice-ufrag of a description, "" if none.
func descriptionUfrag(sdp string) string {
	_, rest, ok := strings.Cut(sdp, "a=ice-ufrag:")
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(line)
}

// RestartPublisherICE offers on the publisher connection with an ICE
// restart now, as the client does by itself when the connection fails: a
// client that learns its network changed may restart at once.
func (c *Client) RestartPublisherICE() error {
	if err := c.offerWith(&webrtc.OfferOptions{ICERestart: true}); err != nil {
		return err
	}
	c.restarts.mu.Lock()
	c.restarts.pub++
	c.restarts.mu.Unlock()
	return nil
}
