package sfu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// The exporting half of a relay (see relay.go): what this node's clients
// publish, sent to the peer.

// relayMember is a relay's place in its room: it receives the room's
// tracks and events, which it queues for the relay's goroutine. The
// others are never told of it.
type relayMember struct {
	r  *Relay
	id string
}

func (m *relayMember) ID() string            { return m.id }
func (m *relayMember) identity() string      { return m.id }
func (m *relayMember) role() memberRole      { return roleRelay }
func (m *relayMember) Info() ParticipantInfo { return ParticipantInfo{ID: m.id} }

func (m *relayMember) send(ev Event) { m.r.ops.post(func() { m.r.onEvent(ev) }) }

func (m *relayMember) subscribe(up *UpTrack) { m.r.ops.post(func() { m.r.export(up) }) }

func (m *relayMember) unsubscribe(up *UpTrack) { m.r.ops.post(func() { m.r.unexport(up) }) }

// Close ends the relay without waiting for it: the Room calls it when
// the room is removed, and the SFU's Close waits for its relays itself.
func (m *relayMember) Close() { m.r.end() }

// relayExport is one track sent to the peer.
type relayExport struct {
	up      *UpTrack
	streams [MaxLayers]*relayStream // by layer
	told    bool                    // the peer was sent the track (sendTrack)
}

// relayStream is one layer of an exported track on pcOut.
type relayStream struct {
	down   *DownTrack
	sender *webrtc.RTPSender
	ssrc   uint32
}

// onEvent acts on an event of the room. It runs on the relay's goroutine.
func (r *Relay) onEvent(ev Event) {
	switch ev := ev.(type) {
	case Joined:
		for _, p := range ev.Others {
			r.exportParticipant(p)
		}
	case ParticipantJoined:
		r.exportParticipant(ev.Participant)
	case ParticipantLeft:
		if r.exported[ev.ParticipantID] {
			delete(r.exported, ev.ParticipantID)
			r.send(RelayMessage{Kind: RelayParticipantLeft, ParticipantID: ev.ParticipantID})
		}
	case TrackMuted:
		if r.exported[ev.ParticipantID] {
			r.send(RelayMessage{Kind: RelayTrackMuted, ParticipantID: ev.ParticipantID,
				Track: &RelayTrackInfo{ID: ev.Track.ID, Kind: ev.Track.Kind, Muted: ev.Track.Muted}})
		}
	}
}

// exportParticipant tells the peer about p if it is a client of this
// node: participants imported from other nodes are theirs to tell.
func (r *Relay) exportParticipant(p ParticipantInfo) {
	if role, ok := r.room.roleOf(p.ID); !ok || role != roleClient || r.exported[p.ID] {
		return
	}
	r.exported[p.ID] = true
	r.send(RelayMessage{Kind: RelayParticipantJoined, Participant: &ParticipantInfo{ID: p.ID, Identity: p.Identity, Name: p.Name},
		Codecs: r.room.noDecodeOf(p.ID)})
}

// export starts sending up to the peer, if its publisher was exported.
func (r *Relay) export(up *UpTrack) {
	if !r.exported[up.publisherID] || r.exports[up.id] != nil || up.Closed() {
		return
	}
	e := &relayExport{up: up}
	r.exports[up.id] = e
	if r.addStreams(e) {
		r.sendTrack(e)
		r.negotiate()
	}
}

// exportNewLayers sends the layers that exported tracks gained since
// they were published: a publisher's simulcast layers arrive one by one.
func (r *Relay) exportNewLayers() {
	changed := false
	for _, e := range r.exports {
		if r.addStreams(e) {
			r.sendTrack(e)
			changed = true
		}
	}
	if changed {
		r.negotiate()
	}
}

// addStreams gives each layer of e's track that has none a stream on
// pcOut, and reports whether it added any.
func (r *Relay) addStreams(e *relayExport) bool {
	added := false
	for i := range MaxLayers {
		if e.streams[i] != nil || e.up.layer(i) == nil {
			continue
		}
		down := newDownTrack(e.up, r.sfu.metrics)
		down.relayLayer = i
		down.vp8 = nil // one layer, never switched: nothing to munge
		tr, err := r.pcOut.AddTransceiverFromTrack(down, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			if !errors.Is(err, webrtc.ErrConnectionClosed) {
				r.log.Warn("relay stream not added", "track", e.up.id, "layer", i, "err", err)
			}
			return added
		}
		// Only the track's codec: the peer has the same codecs, and every
		// other one would lengthen each offer by its lines, for every
		// stream the connection ever carried. But pion offers, on every
		// later m-line, only the video codecs of the first answer with
		// video: until then each video stream offers them all, or a track
		// in another codec (a publisher's codec switch) could never cross.
		if codecs := relayCodecs(e.up.codec); codecs != nil && (r.videoAnswered || e.up.kind != webrtc.RTPCodecTypeVideo) {
			if err := tr.SetCodecPreferences(codecs); err != nil {
				r.log.Debug("relay codec preferences", "err", err)
			}
		}
		sender := tr.Sender()
		if !e.up.addDownTrack(down) {
			_ = r.pcOut.RemoveTrack(sender)
			return added
		}
		encodings := sender.GetParameters().Encodings
		st := &relayStream{down: down, sender: sender}
		if len(encodings) > 0 {
			st.ssrc = uint32(encodings[0].SSRC)
		}
		e.streams[i] = st
		r.goTracked(func() { readRelayRTCP(sender, down) })
		added = true
	}
	return added
}

// relayCodecs are the codec of a track, as this node registers it, and
// its RTX; nil if it is not one of them.
func relayCodecs(c webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	video := strings.HasPrefix(strings.ToLower(c.MimeType), "video/")
	all := audioCodecs
	if video {
		all = videoCodecs
	}
	codec, ok := matchCodec(c, all)
	if !ok {
		return nil
	}
	if video {
		return []webrtc.RTPCodecParameters{codec, rtxOf(codec)}
	}
	return []webrtc.RTPCodecParameters{codec}
}

// readRelayRTCP handles what the peer says about one stream, NACKs and
// keyframe requests, as a subscriber's RTCP, until the sender stops.
func readRelayRTCP(s *webrtc.RTPSender, d *DownTrack) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		d.handleRTCP(pkts)
	}
}

// sendTrack describes e's track and its streams to the peer.
func (r *Relay) sendTrack(e *relayExport) {
	info := &RelayTrackInfo{ID: e.up.id, Kind: e.up.kind.String(), Muted: e.up.muted.Load(), Source: string(e.up.source)}
	for i, st := range e.streams {
		if st != nil {
			info.Layers = append(info.Layers, RelayLayer{Layer: i, RID: e.up.layer(i).rid, SSRC: st.ssrc})
		}
	}
	r.send(RelayMessage{Kind: RelayTrack, ParticipantID: e.up.publisherID, Track: info})
	e.told = true
}

// unexport stops sending up to the peer.
func (r *Relay) unexport(up *UpTrack) {
	e := r.exports[up.id]
	if e == nil || e.up != up {
		return
	}
	delete(r.exports, up.id)
	e.stopSending()
	for _, st := range e.streams {
		if st != nil {
			if err := r.pcOut.RemoveTrack(st.sender); err != nil {
				_ = st.sender.Stop()
			}
		}
	}
	if e.told {
		// A track that ended before any of its streams was added was
		// never announced: the peer does not know it.
		r.send(RelayMessage{Kind: RelayTrackUnpublished, ParticipantID: up.publisherID, TrackID: up.id})
	}
	r.negotiate()
}

// stopSending takes e's streams off its UpTrack.
func (e *relayExport) stopSending() {
	for _, st := range e.streams {
		if st != nil {
			e.up.removeDownTrack(st.down)
		}
	}
}

// setLayers sends the layers of a track the peer needs, and stops the
// others, from the next keyframe.
func (r *Relay) setLayers(trackID string, active map[string]bool) error {
	e := r.exports[trackID]
	if e == nil {
		return nil // ended meanwhile
	}
	for i, st := range e.streams {
		if st == nil {
			continue
		}
		on, ok := active[e.up.layer(i).rid]
		_, target := st.down.Layers()
		switch {
		case !ok:
		case on && target < 0:
			st.down.SetTarget(i)
		case !on && target >= 0:
			st.down.SetTarget(-1)
		}
	}
	return nil
}

// restartVideo makes every video stream start again at a keyframe once
// pcOut can encrypt: pion drops what is written before.
func (r *Relay) restartVideo() {
	for _, e := range r.exports {
		for _, st := range e.streams {
			if st != nil {
				st.down.restart()
			}
		}
	}
}

// negotiate sends the peer a new offer for pcOut, or marks that one is
// needed once the outstanding one is answered.
func (r *Relay) negotiate() {
	if r.offerPending {
		r.renegotiate = true
		return
	}
	r.renegotiate = false
	offer, err := r.pcOut.CreateOffer(nil)
	var sdp string
	if err == nil {
		sdp, err = r.localDescription(r.pcOut, offer)
	}
	if err == nil && len(sdp) > maxRelaySDP {
		// Every stream the connection ever carried keeps its m-line: a
		// relay of a long-lived room with much coming and going ends
		// here, and its owner opens a new one, which starts afresh.
		err = fmt.Errorf("%w: the offer has outgrown %d bytes", ErrBadRelayMessage, maxRelaySDP)
	}
	if err != nil {
		if !errors.Is(err, webrtc.ErrConnectionClosed) {
			_ = r.fail(fmt.Errorf("sfu: relay offer: %w", err))
		}
		return
	}
	r.offerPending = true
	r.send(RelayMessage{Kind: RelayOffer, SDP: sdp})
}

// applyAnswer applies the peer's answer to the outstanding offer.
func (r *Relay) applyAnswer(sdp string) error {
	if !r.offerPending {
		return fmt.Errorf("%w: an answer with no offer outstanding", ErrBadRelayMessage)
	}
	if err := r.pcOut.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return r.fail(badRelaySDP("relay answer", err))
	}
	r.offerPending = false
	r.videoAnswered = r.videoAnswered || strings.Contains(sdp, "m=video")
	if r.renegotiate {
		r.negotiate()
	}
	return nil
}
