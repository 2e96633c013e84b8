package sfu

import (
	"errors"
	"fmt"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// The importing half of a relay (see relay.go): the peer's participants
// and tracks, brought into the local room.

// importedParticipant is a participant of the peer's node, a member of
// the local room that publishes and never subscribes.
type importedParticipant struct {
	r      *Relay
	info   ParticipantInfo           // without tracks
	tracks map[string]*importedTrack // owned by the relay's goroutine
	// endedHere are the tracks this end unpublished when their streams
	// ended, before the peer said so: its track_unpublished may still be
	// on its way, and is then no error. Owned by the relay's goroutine.
	endedHere map[string]bool
}

func (p *importedParticipant) ID() string            { return p.info.ID }
func (p *importedParticipant) identity() string      { return p.info.Identity }
func (p *importedParticipant) role() memberRole      { return roleImported }
func (p *importedParticipant) Info() ParticipantInfo { return p.info }
func (p *importedParticipant) send(Event)            {}
func (p *importedParticipant) subscribe(*UpTrack)    {}
func (p *importedParticipant) unsubscribe(*UpTrack)  {}

// Close takes the participant out of the room (the SFU closes); the
// relay that brought it ends by itself.
func (p *importedParticipant) Close() { p.r.room.leave(p) }

// importedTrack is a track of an imported participant: its UpTrack is
// made, and published in the room, when its first stream arrives.
type importedTrack struct {
	info RelayTrackInfo
	up   *UpTrack // nil until a stream arrives
	dyn  dynacastState
}

// streamRef says which layer of which track a stream on pcIn carries.
type streamRef struct {
	p     *importedParticipant
	t     *importedTrack
	layer int
	rid   string
}

// importParticipant brings a participant of the peer into the room, with
// the codecs it is known not to decode.
func (r *Relay) importParticipant(info ParticipantInfo, noDecode []string) error {
	if _, ok := r.room.roleOf(info.ID); ok {
		return fmt.Errorf("%w: participant %q is already in the room", ErrBadRelayMessage, info.ID)
	}
	p := &importedParticipant{r: r, info: ParticipantInfo{ID: info.ID, Identity: info.Identity, Name: info.Name},
		tracks: make(map[string]*importedTrack)}
	if err := r.room.join(p); err != nil {
		if errors.Is(err, errRoomGone) {
			r.end()
			return nil
		}
		return fmt.Errorf("%w: participant %q: %v", ErrBadRelayMessage, info.ID, err)
	}
	r.imported[info.ID] = p
	r.markUndecodable(p, noDecode)
	return nil
}

// dropParticipant takes a participant of the peer out of the room.
func (r *Relay) dropParticipant(id string) error {
	p := r.imported[id]
	if p == nil {
		return fmt.Errorf("%w: unknown participant %q", ErrBadRelayMessage, id)
	}
	delete(r.imported, id)
	for _, t := range p.tracks {
		r.forgetStreams(t)
	}
	r.room.leave(p)
	return nil
}

// importTrack records a track of the peer's, or its new layers, so that
// its streams are recognized when they arrive.
func (r *Relay) importTrack(pid string, info RelayTrackInfo) error {
	p := r.imported[pid]
	if p == nil {
		return fmt.Errorf("%w: track of unknown participant %q", ErrBadRelayMessage, pid)
	}
	delete(p.endedHere, info.ID)
	t := p.tracks[info.ID]
	if t == nil {
		t = &importedTrack{}
		p.tracks[info.ID] = t
	} else if t.info.Kind != info.Kind {
		return fmt.Errorf("%w: track %q changed kind", ErrBadRelayMessage, info.ID)
	}
	r.forgetStreams(t)
	t.info = info
	for _, l := range info.Layers {
		r.streams[l.SSRC] = streamRef{p: p, t: t, layer: l.Layer, rid: l.RID}
	}
	return nil
}

// dropTrack ends a track of the peer's.
func (r *Relay) dropTrack(pid, tid string) error {
	p := r.imported[pid]
	if p == nil {
		return fmt.Errorf("%w: track of unknown participant %q", ErrBadRelayMessage, pid)
	}
	t := p.tracks[tid]
	if t == nil {
		if p.endedHere[tid] {
			delete(p.endedHere, tid)
			return nil
		}
		return fmt.Errorf("%w: unknown track %q", ErrBadRelayMessage, tid)
	}
	delete(p.tracks, tid)
	r.forgetStreams(t)
	if t.up != nil {
		r.room.unpublish(p, t.up)
	}
	return nil
}

// forgetStreams forgets the streams of t.
func (r *Relay) forgetStreams(t *importedTrack) {
	for _, l := range t.info.Layers {
		if ref, ok := r.streams[l.SSRC]; ok && ref.t == t {
			delete(r.streams, l.SSRC)
		}
	}
}

// muteTrack marks a participant's tracks of a kind muted or not.
func (r *Relay) muteTrack(pid, kind string, muted bool) error {
	p := r.imported[pid]
	if p == nil {
		return fmt.Errorf("%w: mute of unknown participant %q", ErrBadRelayMessage, pid)
	}
	for _, t := range p.tracks {
		if t.info.Kind == kind {
			t.info.Muted = muted
		}
	}
	r.room.setMuted(p, kind, muted)
	return nil
}

// answer applies the peer's offer for pcIn and sends the answer.
func (r *Relay) answer(sdp string) error {
	switch st := r.pcIn.SignalingState(); st {
	case webrtc.SignalingStateStable:
	case webrtc.SignalingStateClosed:
		// The peer's end closed while its offer was on its way (fail).
		return r.fail(webrtc.ErrConnectionClosed)
	default:
		return fmt.Errorf("%w: an offer in state %s", ErrBadRelayMessage, st)
	}
	if err := r.pcIn.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return r.fail(badRelaySDP("relay offer", err))
	}
	answer, err := r.pcIn.CreateAnswer(nil)
	var local string
	if err == nil {
		local, err = r.localDescription(r.pcIn, answer)
	}
	if err != nil {
		return r.fail(fmt.Errorf("sfu: relay answer: %w", err))
	}
	r.send(RelayMessage{Kind: RelayAnswer, SDP: local})
	return nil
}

// onTrack starts reading a stream that arrived on pcIn: a layer of an
// imported track, whose UpTrack it makes and publishes with the first.
func (r *Relay) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	ref, ok := r.streams[uint32(remote.SSRC())]
	if !ok || ref.t.info.Kind != remote.Kind().String() || r.imported[ref.p.info.ID] != ref.p {
		// A stream of a track that ended meanwhile: read it to its end.
		r.goTracked(func() { drainRTP(remote) })
		return
	}
	t, p := ref.t, ref.p
	first := t.up == nil
	if first {
		cfg := r.sfu.cfg
		size := cfg.AudioCacheSize
		if remote.Kind() == webrtc.RTPCodecTypeVideo {
			size = cfg.VideoCacheSize
		}
		t.up = newUpTrack(upTrackParams{
			id:            t.info.ID,
			publisherID:   p.info.ID,
			identity:      p.identity(),
			kind:          remote.Kind(),
			source:        sourceOf(t.info.Source, remote.Kind()),
			codec:         remote.Codec(),
			cacheSize:     size,
			keyframeEvery: cfg.KeyframeInterval,
			sendPLI:       r.sendPLI,
			now:           r.sfu.now,
			metrics:       r.sfu.metrics,
			traffic:       &r.sfu.traffic,
		})
		t.up.muted.Store(t.info.Muted)
	}
	up := t.up
	up.setAudioLevelExt(receiver.GetParameters().HeaderExtensions)
	l, ok := up.addLayer(ref.layer, ref.rid, uint32(remote.SSRC()))
	if !ok {
		r.goTracked(func() { drainRTP(remote) })
		return
	}
	if first && !r.room.publish(p, up) {
		up.close()
	}
	r.goTracked(func() { drainRTCP(receiver.ReadRTCP) })
	r.goTracked(func() {
		if up.runLayer(l, remote) {
			r.ops.post(func() { r.streamsEnded(p, t, up) })
		}
	})
}

// streamsEnded unpublishes a track whose streams all ended without the
// peer saying so.
func (r *Relay) streamsEnded(p *importedParticipant, t *importedTrack, up *UpTrack) {
	if p.tracks[t.info.ID] == t && t.up == up {
		_ = r.dropTrack(p.info.ID, t.info.ID)
		if p.endedHere == nil {
			p.endedHere = make(map[string]bool)
		}
		p.endedHere[t.info.ID] = true
	}
}

// sendPLI asks the peer for a keyframe of the stream ssrc, which it
// passes on to the publisher (UpTrack.sendPLI).
func (r *Relay) sendPLI(ssrc uint32) {
	if err := r.pcIn.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
		r.log.Debug("relay PLI not sent", "err", err)
	}
}

// dynacast tells the peer which layers of each imported video track
// somebody here receives, so that it sends only those, as a publisher is
// told (Participant.dynacast).
func (r *Relay) dynacast() {
	now := r.sfu.now()
	for _, p := range r.imported {
		for _, t := range p.tracks {
			if t.up == nil || t.up.kind != webrtc.RTPCodecTypeVideo {
				continue
			}
			if ev, changed := t.dyn.update(t.up, now); changed {
				r.send(RelayMessage{Kind: RelayLayers, TrackID: ev.TrackID, Active: ev.Active})
			}
		}
	}
}

// drainRTP reads a stream nobody wants until it ends.
func drainRTP(t *webrtc.TrackRemote) {
	buf := make([]byte, packetSlot)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}
