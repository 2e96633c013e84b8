package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Relays: a room that spans nodes. Each node serves its own clients, and
// every pair of nodes that serve a room keeps one relay for it: each node
// has its end, a Relay, and the two ends talk through RelayMessage values
// that their owner carries between the nodes (the cluster, over its bus)
// and through two node-to-node PeerConnections, one per direction.
//
// The two halves of an end:
//
//   - exporting: a member of the local room (relayMember, invisible to
//     the clients) that receives the tracks of the room's clients, and
//     only theirs, never those imported from another node, so that with
//     any number of nodes in full mesh each track crosses each link at
//     most once. It tells the peer who is here and what they publish,
//     and sends each layer of each track as its own RTP stream on a
//     sendonly connection it offers (pcOut): a DownTrack fixed on that
//     layer, which answers the peer's NACKs from the UpTrack's packet
//     cache and turns its PLIs into keyframe requests to the publisher,
//     throttled as a subscriber's are.
//   - importing: the peer's participants join the local room as members
//     (importedParticipant) that publish and never subscribe, so local
//     clients see them as any other participant; each of their tracks is
//     an UpTrack with one layer per relayed stream, received on the
//     connection the peer offers (pcIn). Local subscribers switch between
//     those layers as between a local publisher's, and the layers nobody
//     here wants are not sent (RelayLayers, dynacast across the relay).
//
// All of an end's work runs on its own goroutine (run), one operation at
// a time: the peer's messages, the room's events and subscriptions, and
// pion's callbacks, which are queued on an unbounded queue so that the
// Room's calls never block.
//
// An end lives until Close, a bye from the peer, the failure of one of
// its connections, or the removal of its room (its last client left);
// then the participants it imported leave the local room, its tracks stop
// being sent, the peer is told (RelayBye) unless it said so first, and
// Done is closed.
//
// Carrying the messages is the owner's part: each end's messages must
// reach the other end's Handle in the order they were sent, none lost;
// after a gap, the owner closes both ends and opens new ones. An end may
// send messages as soon as it is opened, so the owner holds, or opens the
// local end for, the messages of a relay it has not opened yet. Both ends
// are alike: the two nodes open theirs when they both serve the room.
//
// Media between nodes needs no TURN: a node's exporting connection is on
// its media socket (the UDP mux) and its importing connection on a UDP
// socket of its own (see ownSocketSettings), in the relay port range.

// Relay is this node's end of the relay of one room with one other node.
type Relay struct {
	sfu  *SFU
	room *Room
	peer string
	out  func(RelayMessage)
	log  *slog.Logger

	member *relayMember           // the exporting half in the room
	pcOut  *webrtc.PeerConnection // sends this node's tracks; this end offers
	pcIn   *webrtc.PeerConnection // receives the peer's; the peer offers
	// dataOut are the data channels to the peer (reliable, lossy),
	// set before the relay joins its room (datarelay.go).
	dataOut    [2]*webrtc.DataChannel
	dataWanted atomic.Bool // the data channels were offered
	dataHeld   relayDataHold
	// dropReports throttles, by sender, the reports of reliable data
	// dropped here for a receiver whose queue was full (dataDropped).
	dropReports errorThrottle

	ops      opQueue
	stop     chan struct{} // closed to end the relay
	stopOnce sync.Once
	done     chan struct{} // closed when the relay has ended

	wgMu    sync.Mutex     // guards wg.Add against teardown's wg.Wait, and closing
	wg      sync.WaitGroup // readers of RTP and RTCP
	closing bool

	// Owned by run's goroutine.
	exported      map[string]bool         // participants told to the peer
	exports       map[string]*relayExport // tracks sent, by ID
	offerPending  bool
	videoAnswered bool // the peer answered an offer with video (addStreams)
	renegotiate   bool
	imported      map[string]*importedParticipant
	streams       map[uint32]streamRef // the streams pcIn receives, by SSRC
	peerSaidBye   bool
	// peerV is the version of the peer's first message, 0 before it; the
	// marks of undecodable codecs learnt meanwhile wait in noDecodeHeld.
	peerV        int
	noDecodeHeld []RelayMessage
}

// relayGather bounds the wait for a connection's local candidates, which
// go into its description: with the SFU's UDP mux they are known at once.
const relayGather = 5 * time.Second

// OpenRelay opens this node's end of the relay of room with node peer.
// out carries the messages for the peer's end, in order; it must not
// block (the caller queues them), nor call the relay's Handle or Close,
// and is called from the relay's own goroutine. The peer's messages are given to Handle. The room must have
// a client here (else ErrNoRoom); once the SFU is closed OpenRelay
// returns ErrClosed. A draining SFU still opens relays, for the clients
// it keeps. The caller must Close the relay, even once Done is closed.
func (s *SFU) OpenRelay(room, peer string, out func(RelayMessage)) (*Relay, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	rm, ok := s.rooms[room]
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrNoRoom, room)
	}
	s.relays.Add(1)
	s.mu.Unlock()

	r := &Relay{
		sfu: s, room: rm, peer: peer, out: out,
		log:      s.log.With("room", room, "relay", peer),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		exported: make(map[string]bool),
		exports:  make(map[string]*relayExport),
		imported: make(map[string]*importedParticipant),
		streams:  make(map[uint32]streamRef),
	}
	r.ops.init()
	r.member = &relayMember{r: r, id: newID("RL_")}
	var err error
	if r.pcOut, err = s.api.relayOut.NewPeerConnection(webrtc.Configuration{}); err == nil {
		if r.pcIn, err = s.api.relayIn.NewPeerConnection(webrtc.Configuration{}); err != nil {
			_ = r.pcOut.Close()
		}
	}
	if err == nil {
		if err = r.openRelayData(); err != nil {
			_ = r.pcOut.Close()
			_ = r.pcIn.Close()
		}
	}
	if err != nil {
		s.relays.Done()
		return nil, fmt.Errorf("sfu: relay connection: %w", err)
	}
	r.pcOut.OnConnectionStateChange(r.onState("out"))
	r.pcIn.OnConnectionStateChange(r.onState("in"))
	r.pcIn.OnTrack(func(t *webrtc.TrackRemote, rc *webrtc.RTPReceiver) {
		r.ops.post(func() { r.onTrack(t, rc) })
	})
	// Joining queues Joined and the subscriptions to the tracks present,
	// which run handles first.
	if err := rm.join(r.member); err != nil {
		_ = r.pcOut.Close()
		_ = r.pcIn.Close()
		s.relays.Done()
		return nil, fmt.Errorf("%w: %q: %v", ErrNoRoom, room, err)
	}
	go r.run()
	return r, nil
}

// Handle applies a message from the peer's end and returns once it is
// applied. Messages are handled in the order of the calls: the owner
// calls Handle with each message in turn, as the peer sent them. A message that is not well formed, or that this end cannot
// apply, is refused with an error wrapping ErrBadRelayMessage, or
// ErrBadSDP for a description pion refuses, after which the relay ends
// (Done): its connection cannot be trusted any more. Once the relay has
// ended Handle returns ErrClosed.
func (r *Relay) Handle(msg RelayMessage) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	res := make(chan error, 1)
	if !r.ops.post(func() { res <- r.apply(msg) }) {
		return ErrClosed
	}
	select {
	case err := <-res:
		return err
	case <-r.done:
		return ErrClosed
	}
}

// Close ends the relay, as described for Done, and waits until it has
// ended. It is idempotent.
func (r *Relay) Close() {
	r.end()
	<-r.done
}

// Done is closed once the relay has ended: after Close, a RelayBye from
// the peer, the failure of one of its connections, or the removal of its
// room from this node. The participants it imported have then left the
// room, and its tracks are no longer sent.
func (r *Relay) Done() <-chan struct{} { return r.done }

// end asks run to end the relay; it does not wait.
func (r *Relay) end() { r.stopOnce.Do(func() { close(r.stop) }) }

func (r *Relay) run() {
	tick := time.NewTicker(allocateEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.ops.wake:
			for _, fn := range r.ops.take() {
				fn()
			}
		case <-tick.C:
			r.exportNewLayers()
			r.dynacast()
		case <-r.stop:
			r.teardown()
			return
		}
	}
}

// apply handles one message from the peer. It runs on run's goroutine.
func (r *Relay) apply(m RelayMessage) error {
	if r.peerV == 0 {
		r.peerV = m.V
		r.releaseUndecodable()
	}
	switch m.Kind {
	case RelayParticipantJoined:
		return r.importParticipant(*m.Participant, m.Codecs)
	case RelayParticipantLeft:
		return r.dropParticipant(m.ParticipantID)
	case RelayTrack:
		return r.importTrack(m.ParticipantID, *m.Track)
	case RelayTrackUnpublished:
		return r.dropTrack(m.ParticipantID, m.TrackID)
	case RelayTrackMuted:
		return r.muteTrack(m.ParticipantID, m.Track.Kind, m.Track.Muted)
	case RelayOffer:
		return r.answer(m.SDP)
	case RelayAnswer:
		return r.applyAnswer(m.SDP)
	case RelayLayers:
		return r.setLayers(m.TrackID, m.Active)
	case RelayUndecodable:
		return r.importUndecodable(m.ParticipantID, m.Codecs)
	case RelayDataDropped:
		r.senderDropped(m.ParticipantID, m.Receiver)
		return nil
	case RelayBye:
		r.peerSaidBye = true
		r.end()
		return nil
	}
	return fmt.Errorf("%w: unknown kind %q", ErrBadRelayMessage, m.Kind)
}

// send gives the peer a message. It runs on run's goroutine.
func (r *Relay) send(m RelayMessage) {
	m.V = RelayVersion
	r.out(m)
}

// badRelaySDP is the error of a description pion refused: ErrBadSDP, or,
// when the connection had closed meanwhile, pion's error as it is.
func badRelaySDP(what string, err error) error {
	if errors.Is(err, webrtc.ErrConnectionClosed) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrBadSDP, what, err)
}

// fail ends the relay after err, and returns err; ErrClosed when the
// relay's connection had closed (the relay was ending: nothing failed).
// pion closes a connection on the peer's DTLS CloseNotify, so a peer's
// end that closed while its description was on its way makes whichever
// step comes first fail.
func (r *Relay) fail(err error) error {
	if errors.Is(err, webrtc.ErrConnectionClosed) ||
		r.pcIn.SignalingState() == webrtc.SignalingStateClosed || r.pcOut.SignalingState() == webrtc.SignalingStateClosed {
		// The relay ended while the message waited: nothing failed.
		r.end()
		return ErrClosed
	}
	r.log.Warn("relay failed", "err", err)
	r.end()
	return err
}

// onState ends the relay when one of its connections fails: the peer may
// be gone, and its owner opens a new relay if it is not.
func (r *Relay) onState(which string) func(webrtc.PeerConnectionState) {
	return func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed:
			r.log.Warn("relay connection failed", "connection", which)
			r.end()
		case webrtc.PeerConnectionStateConnected:
			if which == "out" {
				r.ops.post(r.restartVideo)
			}
		}
	}
}

// localDescription sets d on pc and returns it with every local
// candidate in it, or what was gathered within relayGather.
func (r *Relay) localDescription(pc *webrtc.PeerConnection, d webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), relayGather)
	defer cancel()
	select {
	case <-gathered:
	case <-ctx.Done():
		r.log.Warn("relay candidates still gathering; sending those found")
	case <-r.stop:
	}
	return pc.LocalDescription().SDP, nil
}

// goTracked runs fn on a goroutine that teardown waits for, unless
// teardown has already begun waiting.
func (r *Relay) goTracked(fn func()) {
	r.wgMu.Lock()
	defer r.wgMu.Unlock()
	if r.closing {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
}

// teardown ends the relay. It runs on run's goroutine, last.
func (r *Relay) teardown() {
	r.ops.close()
	if !r.peerSaidBye {
		r.send(RelayMessage{Kind: RelayBye})
	}
	r.room.leave(r.member)
	for _, e := range r.exports {
		e.stopSending()
	}
	for _, p := range r.imported {
		r.room.leave(p)
	}
	_ = r.pcOut.Close()
	_ = r.pcIn.Close()
	for _, e := range r.exports {
		for _, st := range e.streams {
			if st != nil {
				_ = st.sender.Stop()
			}
		}
	}
	r.wgMu.Lock()
	r.closing = true
	r.wgMu.Unlock()
	r.wg.Wait()
	r.log.Debug("relay closed")
	close(r.done)
	r.sfu.relays.Done()
}

// opQueue is an unbounded queue of operations for a relay's goroutine:
// posting never blocks, so the Room may post while holding its lock.
type opQueue struct {
	mu     sync.Mutex // guards ops and closed; a leaf
	ops    []func()
	closed bool
	wake   chan struct{} // holds a token while ops is not empty
}

func (q *opQueue) init() { q.wake = make(chan struct{}, 1) }

// post queues fn; it reports false once the queue is closed.
func (q *opQueue) post(fn func()) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.ops = append(q.ops, fn)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns the queued operations, in order, and empties the queue.
func (q *opQueue) take() []func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	ops := q.ops
	q.ops = nil
	return ops
}

// close refuses further operations and drops those queued.
func (q *opQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.ops = nil
	q.mu.Unlock()
}
