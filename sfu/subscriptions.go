package sfu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Subscriptions: each track of another participant this one receives has
// a DownTrack and a transceiver (an m-line) on the subscriber connection.
//
// An m-line is never taken out of an SDP, only made inactive, so a
// connection that gave every track a new one would carry the whole
// history of the room: after a few dozen publishers had come and gone, a
// browser's answer no longer fitted in a signaling message. So the
// transceiver of an ended subscription is kept, inactive, and the next
// track of the same kind takes it over (with a new sender, so a new SSRC
// and msid under the same mid): the subscriber connection has as many
// m-lines of a kind as the most tracks of that kind it ever received at
// once.
//
// A released m-line is reused only once the client has answered an offer
// that made it inactive. Taken over before that, it would go from one
// track straight to the next in one offer, and a browser then fires no
// track event: it only moves the track to the new msid's stream, and a
// page waiting for the new participant's track would never see it.
//
// pion's AddTrack reuses a transceiver only while the remote side's
// direction allows sending, which an answer to our inactive m-line does
// not, so the reuse is our own: a new RTPSender set on the transceiver
// turns it from inactive to sendonly, as AddTrack would.

// subscription is one track this participant receives.
type subscription struct {
	down   *DownTrack
	sender *webrtc.RTPSender
	tr     *webrtc.RTPTransceiver // the m-line carrying it
}

// releasedMLine is a transceiver whose track has ended, waiting for the
// answer to the offer that makes it inactive: offer number inOffer.
type releasedMLine struct {
	tr      *webrtc.RTPTransceiver
	inOffer uint64
}

// subscribe starts sending up to this participant. It is posted by the room.
func (p *Participant) subscribe(up *UpTrack) {
	if !p.who.Grants.Subscribe {
		return
	}
	p.post(func() {
		if _, ok := p.downs[up.id]; ok {
			return
		}
		if codec := strings.ToLower(up.codec.MimeType); p.undecodable[codec] {
			p.log.Info("track not sent: the subscriber cannot decode its codec", "track", up.id, "publisher", up.publisherID, "codec", codec)
			p.sink.Send(TrackUndecodable{ParticipantID: up.publisherID, TrackID: up.id, Kind: up.kind.String(), Codec: up.codec.MimeType})
			p.room.undecodable(p, codec)
			return
		}
		down := newDownTrack(up, p.sfu.metrics)
		down.queueDelay = p.bw.bwe.QueueDelay
		tr, sender, err := p.addSender(down)
		if errors.Is(err, webrtc.ErrConnectionClosed) {
			// pion closes the connection when the client's DTLS does;
			// the participant's departure is on its way.
			p.log.Debug("not subscribed: the connection is closed", "track", up.id)
			return
		}
		if err != nil {
			p.log.Warn("subscribe failed", "track", up.id, "err", err)
			return
		}
		if !up.addDownTrack(down) {
			p.release(tr, sender)
			return
		}
		p.downs[up.id] = &subscription{down: down, sender: sender, tr: tr}
		p.bw.add(down)
		p.goTracked(func() { p.readSenderRTCP(sender, down) })
		p.negotiate()
	})
}

// unsubscribe stops sending the track with this ID. It is posted by the room.
func (p *Participant) unsubscribe(up *UpTrack) {
	p.post(func() {
		if p.endSubscription(up) {
			p.negotiate()
		}
	})
}

// endSubscription stops sending up, if it is sent, and reports whether it
// was. It runs on the event loop.
func (p *Participant) endSubscription(up *UpTrack) bool {
	s, ok := p.downs[up.id]
	if !ok {
		return false
	}
	delete(p.downs, up.id)
	p.bw.remove(s.down)
	up.removeDownTrack(s.down)
	p.release(s.tr, s.sender)
	return true
}

// dropUndecodable ends the subscriptions whose codec the client's last
// answer did not accept, remembers the codecs, tells the client, and
// returns how many it ended. It runs on the event loop.
func (p *Participant) dropUndecodable() int {
	n := 0
	for _, s := range p.downs {
		if !s.down.undecodable.Load() {
			continue
		}
		up := s.down.up
		codec := strings.ToLower(up.codec.MimeType)
		p.undecodable[codec] = true
		p.endSubscription(up)
		p.log.Info("track not sent: the subscriber cannot decode its codec", "track", up.id, "publisher", up.publisherID, "codec", codec)
		p.sink.Send(TrackUndecodable{ParticipantID: up.publisherID, TrackID: up.id, Kind: up.kind.String(), Codec: up.codec.MimeType})
		p.room.undecodable(p, codec)
		n++
	}
	return n
}

// addSender gives down a sender on a released m-line of its kind, or
// else on a new one. It runs on the event loop.
func (p *Participant) addSender(down *DownTrack) (*webrtc.RTPTransceiver, *webrtc.RTPSender, error) {
	if p.sub.SignalingState() == webrtc.SignalingStateClosed {
		return nil, nil, webrtc.ErrConnectionClosed
	}
	kind := down.Kind()
	if free := p.freeMLines[kind]; len(free) > 0 {
		tr := free[len(free)-1]
		p.freeMLines[kind] = free[:len(free)-1]
		sender, err := p.reuse(tr, down)
		if err == nil {
			return tr, sender, nil
		}
		// Left out of the pool: a new m-line is the safe way on.
		p.log.Warn("m-line not reused", "mid", tr.Mid(), "err", err)
	}
	tr, err := p.sub.AddTransceiverFromTrack(down, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, nil, err
	}
	return tr, tr.Sender(), nil
}

// reuse makes the released transceiver tr send down, on a new sender.
func (p *Participant) reuse(tr *webrtc.RTPTransceiver, down *DownTrack) (*webrtc.RTPSender, error) {
	sender, err := p.sfu.api.sub.NewRTPSender(down, p.sub.SCTP().Transport())
	if err != nil {
		return nil, fmt.Errorf("sfu: sender for a reused m-line: %w", err)
	}
	if err := tr.SetSender(sender, down); err != nil {
		// SetSender took the sender before it failed; RemoveTrack
		// takes it off again.
		_ = p.sub.RemoveTrack(sender)
		_ = sender.Stop()
		return nil, fmt.Errorf("sfu: reusing an m-line: %w", err)
	}
	return sender, nil
}

// release stops sender, which unbinds its DownTrack and ends its RTCP
// reader, and keeps its transceiver for the next track of the kind. The
// caller renegotiates. It runs on the event loop.
func (p *Participant) release(tr *webrtc.RTPTransceiver, sender *webrtc.RTPSender) {
	if err := p.sub.RemoveTrack(sender); err != nil {
		// A closed connection: nothing to reuse. The sender may have
		// been set after pion's Close stopped the others.
		p.log.Debug("remove track", "err", err)
		_ = sender.Stop()
		return
	}
	// The next offer is the first without the track.
	p.released = append(p.released, releasedMLine{tr: tr, inOffer: p.offersMade + 1})
}

// answeredMLines makes the m-lines released before the offer just
// answered free for reuse. It runs on the event loop.
func (p *Participant) answeredMLines() {
	kept := p.released[:0]
	for _, r := range p.released {
		if r.inOffer > p.offersMade {
			kept = append(kept, r)
			continue
		}
		p.freeMLines[r.tr.Kind()] = append(p.freeMLines[r.tr.Kind()], r.tr)
	}
	clear(p.released[len(kept):])
	p.released = kept
}

// readSenderRTCP handles a sender's RTCP until the sender stops. Every
// sender has one: reading is also what runs pion's RTCP interceptors for
// it.
func (p *Participant) readSenderRTCP(s *webrtc.RTPSender, d *DownTrack) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		d.handleRTCP(pkts)
	}
}

// SetMaxLayer caps the simulcast layer this participant receives of a
// track (0 lowest), at the next keyframe.
func (p *Participant) SetMaxLayer(trackID string, layer int) error {
	if layer < 0 || layer >= MaxLayers {
		return fmt.Errorf("%w: layer %d, want 0 to %d", ErrBadLayer, layer, MaxLayers-1)
	}
	return p.do(func() error {
		s, ok := p.downs[trackID]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownTrack, trackID)
		}
		s.down.maxLayer.Store(int32(layer))
		p.bw.allocate(p.sfu.now())
		return nil
	})
}

// restartVideo starts every video subscription over at a fresh keyframe
// once the subscriber connection can encrypt: pion drops what is written
// before, and that was the keyframe asked for when the track was added.
// It runs on the event loop.
func (p *Participant) restartVideo() {
	for _, s := range p.downs {
		s.down.restart()
	}
}
