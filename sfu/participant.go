package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// maxPublishedSections bounds the media sections of a publisher offer: one
// camera stream is audio plus video, with room for a screen share.
const maxPublishedSections = 4

// Grants are what a participant's access token allows.
type Grants struct {
	Publish   bool
	Subscribe bool
	// Data allows sending application data (data.go).
	Data bool
}

// Identity is who joins: from the verified access token.
type Identity struct {
	Identity string
	Name     string
	Grants   Grants
	// Decodes lists the video codecs (MIME types) the client said it
	// decodes when it joined; nil when it did not say. Tracks in other
	// codecs are not offered to it (roomcodecs.go).
	Decodes []string
	// P2P: the token and the client allow a peer connection when the
	// room holds two (signaling/PROTOCOL.md, "Peer to peer for two").
	P2P bool
}

// Participant is one client in a room, with its publisher and subscriber
// PeerConnections. Changes to the connections run on the participant's own
// goroutine (an event queue), one at a time, in the order they were posted,
// so that negotiation needs no locks and offers never cross.
type Participant struct {
	id    string
	who   Identity
	room  *Room
	sink  EventSink
	sfu   *SFU
	log   *slog.Logger
	pub   *webrtc.PeerConnection
	sub   *webrtc.PeerConnection
	ops   chan func()
	done  chan struct{} // closed when Close starts
	loop  chan struct{} // closed when the event loop has returned
	close sync.Once

	wgMu    sync.Mutex     // guards wg.Add against Close's wg.Wait, and closing
	wg      sync.WaitGroup // RTCP readers and UpTrack readers
	closing bool

	pubGate *candidateGate // replaced with the publisher connection

	upMu     sync.Mutex // guards upTracks and sources
	upTracks map[*webrtc.RTPReceiver]*UpTrack
	sources  Sources // by mid, as the publisher's offers named them; written on the event loop
	subGate  candidateGate

	// Owned by the event loop goroutine.
	bw           *bandwidthControl // of the subscriber connection (bandwidthcontrol.go)
	downs        map[string]*subscription
	freeMLines   map[webrtc.RTPCodecType][]*webrtc.RTPTransceiver // released and answered inactive, for reuse (subscriptions.go)
	released     []releasedMLine                                  // released, until the client has answered them inactive
	offersMade   uint64                                           // subscriber offers sent
	dynacasts    map[*UpTrack]*dynacastState
	offerPending bool
	renegotiate  bool
	// undecodable holds the codecs (lower-case MIME types) the client's
	// answers showed it cannot decode: tracks in them are not sent to it.
	undecodable map[string]bool
	// failedAnswers counts subscriber answers refused in a row.
	failedAnswers int
	subRestart    bool      // the next subscriber offer restarts ICE
	subRestarts   uint64    // subscriber offers that restarted ICE
	subRestarted  time.Time // when the latest subscriber restart was offered
	pubAsked      time.Time // when the client was last asked to restart the publisher connection
	pubRestarts   uint64    // publisher offers that restarted ICE
	pubUfrag      string    // the client's ICE username fragment of the publisher connection's applied offer
	pendingCands  map[Target][]webrtc.ICECandidateInit
	remote        map[Target]*remoteCandidates // admits the client's candidates, per connection
	qualityMeter  qualityMeter                 // measures quality (quality.go)

	quality atomic.Int32 // the network quality level last measured, for the room's loop

	data dataPeer // application data channels (data.go)
}

func newParticipant(s *SFU, id string, who Identity, sink EventSink) (*Participant, error) {
	p := &Participant{
		id: id, who: who, sink: sink, sfu: s,
		log:          s.log.With("participant", id, "identity", who.Identity),
		ops:          make(chan func(), 64),
		done:         make(chan struct{}),
		loop:         make(chan struct{}),
		downs:        make(map[string]*subscription),
		undecodable:  undecodableFor(who.Decodes),
		freeMLines:   make(map[webrtc.RTPCodecType][]*webrtc.RTPTransceiver),
		dynacasts:    make(map[*UpTrack]*dynacastState),
		upTracks:     make(map[*webrtc.RTPReceiver]*UpTrack),
		pendingCands: make(map[Target][]webrtc.ICECandidateInit),
		remote: map[Target]*remoteCandidates{
			TargetPublisher:  newRemoteCandidates(TargetPublisher, s.policy, s.cfg.MaxRemoteCandidates),
			TargetSubscriber: newRemoteCandidates(TargetSubscriber, s.policy, s.cfg.MaxRemoteCandidates),
		},
	}
	p.quality.Store(QualityGood) // until measured
	if err := p.newPublisher(); err != nil {
		return nil, err
	}
	sub, bwe, err := s.api.newSubscriber()
	if err != nil {
		_ = p.pub.Close()
		return nil, fmt.Errorf("sfu: subscriber connection: %w", err)
	}
	p.sub = sub
	// Subscriptions are posted by the room after Join set p.room, so
	// bandwidth control, which asks for the speaker only once it has one,
	// reads p.room safely.
	p.bw = newBandwidthControl(bwe, s.metrics, p.log, func() string { return p.room.activeSpeaker() }, newRealTicker)
	p.bw.data = &p.data
	sub.OnICECandidate(p.onCandidate(TargetSubscriber, &p.subGate))
	sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.post(p.restartVideo)
		case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
			p.post(p.restartSubscriber)
		}
	})
	go p.run()
	return p, nil
}

// newPublisher creates the publisher connection, or a fresh one to replace
// a connection a refused offer left unusable.
func (p *Participant) newPublisher() error {
	pub, err := p.sfu.api.pub.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("sfu: publisher connection: %w", err)
	}
	p.pub, p.pubGate = pub, &candidateGate{}
	pub.OnICECandidate(p.onCandidate(TargetPublisher, p.pubGate))
	pub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateDisconnected || st == webrtc.PeerConnectionStateFailed {
			p.post(func() { p.askPublisherRestart(pub) })
		}
	})
	pub.OnTrack(func(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) { p.onTrack(pub, remote, receiver) })
	pub.OnDataChannel(p.onDataChannel)
	return nil
}

// ID is the participant's server-assigned identifier.
func (p *Participant) ID() string { return p.id }

// Info describes the participant, without tracks.
func (p *Participant) Info() ParticipantInfo {
	return ParticipantInfo{ID: p.id, Identity: p.who.Identity, Name: p.who.Name}
}

// identity is who the participant is, from its token (roomMember).
func (p *Participant) identity() string { return p.who.Identity }

// role is roleClient: a participant is a client of this node (roomMember).
func (p *Participant) role() memberRole { return roleClient }

// send tells the participant's client ev (roomMember).
func (p *Participant) send(ev Event) { p.sink.Send(ev) }

// run is the event loop: the posted operations, and the subscriber
// connection's bandwidth control, to which it forwards its ticks.
func (p *Participant) run() {
	defer close(p.loop)
	// The loop has returned when Close goes on, so the figures bandwidth
	// control added to the node's metrics can be taken out here.
	defer p.bw.close()
	for {
		select {
		case fn := <-p.ops:
			fn()
		case <-p.bw.allocateTicks():
			now := p.sfu.now()
			p.bw.tick(now)
			p.dynacast()
			p.measureQuality(now)
		case now := <-p.bw.padTicks():
			p.bw.pad(now)
		case <-p.bw.decreases():
			p.bw.decreased(p.sfu.now())
		case <-p.done:
			return
		}
	}
}

// do runs fn on the event loop and waits for its result.
func (p *Participant) do(fn func() error) error {
	res := make(chan error, 1)
	select {
	case p.ops <- func() { res <- fn() }:
	case <-p.done:
		return ErrClosed
	}
	select {
	case err := <-res:
		return err
	case <-p.loop:
		return ErrClosed
	}
}

// post queues fn on the event loop without waiting for it.
func (p *Participant) post(fn func()) {
	select {
	case p.ops <- fn:
	case <-p.done:
	}
}

func (p *Participant) onCandidate(t Target, g *candidateGate) func(*webrtc.ICECandidate) {
	send := func(c webrtc.ICECandidateInit) { p.sink.Send(Candidate{Target: t, Candidate: c}) }
	return func(c *webrtc.ICECandidate) {
		if c == nil {
			return // end of gathering; clients do not need it with trickle
		}
		g.add(c.ToJSON(), send)
	}
}

// SetMuted records that the client muted or unmuted its track of a kind
// and tells the others.
func (p *Participant) SetMuted(kind string, muted bool) error {
	if kind != "audio" && kind != "video" {
		return fmt.Errorf("%w: %q", ErrBadKind, kind)
	}
	p.room.setMuted(p, kind, muted)
	return nil
}

// onTrack runs when a publisher's media arrives, once per simulcast
// layer: the first layer of a track publishes it to the room, and the
// track is unpublished when the last layer's reader stops.
func (p *Participant) onTrack(pub *webrtc.PeerConnection, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	index, ok := layerIndex(remote.RID())
	if !ok {
		p.log.Warn("unknown simulcast layer ignored", "rid", remote.RID())
		return
	}
	cfg := p.sfu.cfg
	size := cfg.AudioCacheSize
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		size = cfg.VideoCacheSize
	}
	source := p.sourceFor(pub, receiver, remote.Kind())
	p.upMu.Lock()
	up, existing := p.upTracks[receiver]
	if !existing {
		up = newUpTrack(upTrackParams{
			id:            newID("TR_"),
			publisherID:   p.id,
			identity:      p.identity(),
			kind:          remote.Kind(),
			source:        source,
			codec:         remote.Codec(),
			cacheSize:     size,
			keyframeEvery: cfg.KeyframeInterval,
			sendPLI:       p.sendPLI,
			now:           p.sfu.now,
			metrics:       p.sfu.metrics,
			traffic:       &p.sfu.traffic,
		})
		p.upTracks[receiver] = up
	}
	p.upMu.Unlock()
	up.setAudioLevelExt(receiver.GetParameters().HeaderExtensions)
	l, ok := up.addLayer(index, remote.RID(), uint32(remote.SSRC()))
	if !ok {
		p.log.Warn("duplicate simulcast layer ignored", "rid", remote.RID())
		return
	}
	rid := remote.RID()
	p.goTracked(func() {
		read := receiver.ReadRTCP
		if rid != "" {
			read = func() ([]rtcp.Packet, interceptor.Attributes, error) { return receiver.ReadSimulcastRTCP(rid) }
		}
		drainRTCP(read)
	})
	p.goTracked(func() {
		if !existing && !p.room.publish(p, up) {
			up.close()
			return
		}
		if up.runLayer(l, remote) {
			p.room.unpublish(p, up)
			p.upMu.Lock()
			delete(p.upTracks, receiver)
			p.upMu.Unlock()
		}
	})
}

func (p *Participant) sendPLI(ssrc uint32) {
	if err := p.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
		p.log.Debug("PLI not sent", "err", err)
	}
}

// goTracked runs fn on a goroutine that Close waits for, unless Close
// has already begun waiting (pion may still fire callbacks while closing).
func (p *Participant) goTracked(fn func()) {
	p.wgMu.Lock()
	defer p.wgMu.Unlock()
	if p.closing {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
}

func drainRTCP(read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
	for {
		if _, _, err := read(); err != nil {
			return
		}
	}
}

// Close removes the participant from its room and closes its connections.
// It is idempotent and waits for the participant's goroutines to end.
func (p *Participant) Close() {
	p.close.Do(func() {
		close(p.done)
		<-p.loop
		if p.room != nil {
			p.room.leave(p)
		}
		// The loop has returned, so p.downs is ours: stop the other
		// participants' UpTracks from writing to this subscriber. Each
		// sender is stopped here, which ends its RTCP reader: pion's Close
		// stops only the senders its transceivers hold as it runs, and pion
		// closes the connection by itself when the client's DTLS closes,
		// after which a reused m-line may still have taken a sender.
		for id, s := range p.downs {
			s.down.up.removeDownTrack(s.down)
			_ = s.sender.Stop()
			delete(p.downs, id)
		}
		p.closeData()
		_ = p.pub.Close()
		_ = p.sub.Close()
		p.wgMu.Lock()
		p.closing = true
		p.wgMu.Unlock()
		p.wg.Wait()
		p.sfu.release()
	})
}
