package sfu

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/logging"
)

// SFU is one node's media core: its rooms and the media socket they share.
type SFU struct {
	cfg     Config
	api     *webrtcAPI
	policy  *candidatePolicy // which remote candidates may be checked
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	hooks   *roomHooks // RoomOpened and RoomClosed, in order (roomhooks.go)
	traffic traffic    // packets and bytes in and out, for Load
	idle    chan struct{}
	relays  sync.WaitGroup // relays not yet ended; Add under mu while not closed

	mu       sync.Mutex // guards the fields below; taken before any Room.mu and roomHooks.mu
	rooms    map[string]*Room
	closed   bool
	draining bool
	live     int  // participants Join admitted whose Close has not returned
	idleSet  bool // idle is closed
}

// Options are the SFU's collaborators; zero values get defaults.
type Options struct {
	Logger  *slog.Logger
	Metrics *Metrics
	// PionLogs receives pion's own logging; nil uses pion's default, which
	// prints warnings and errors to stderr.
	PionLogs logging.LoggerFactory
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// OwnPorts are this node's other ports (HTTP): remote candidates
	// naming them, or the media port, on its own addresses are refused.
	OwnPorts []int
	// Relays are where this node's own TURN server relays from. A client
	// that reaches the SFU through that server alone names them in its
	// relayed candidates, which are accepted whatever RemoteNetworks and
	// the address classes say (this node's own ports excepted).
	Relays []RelayRange
	// RoomOpened, if set, is called with a room's name when the room is
	// created on this SFU (its first participant joins), and RoomClosed
	// when it is removed (its last participant left, or the SFU closed).
	// For each room RoomOpened comes before RoomClosed, and a room
	// removed and created again under the same name has its RoomClosed
	// before the new room's RoomOpened: the calls are made one at a
	// time, in the order the rooms were opened and removed, with no lock
	// of the SFU held. A call may be made by another goroutine than the
	// one that opened or removed the room, so it may still be running
	// when that Join or Close returns; SFU.Close and Idle wait for it.
	// A hook may call Join, Load or Drain, but not SFU.Close, and it
	// delays the joins and departures behind it for as long as it runs.
	RoomOpened, RoomClosed func(name string)
}

// New opens the media port and returns a running SFU.
func New(cfg Config, opts Options) (*SFU, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PionLogs == nil {
		opts.PionLogs = logging.NewDefaultLoggerFactory()
	}
	local := interfaceAddrs()
	policy, err := newCandidatePolicy(cfg, local, opts.OwnPorts)
	if err != nil {
		return nil, err
	}
	for _, r := range opts.Relays {
		policy.addRelay(r)
	}
	api, err := newWebRTCAPI(cfg, local, policy, opts.PionLogs, opts.Now)
	if err != nil {
		return nil, err
	}
	return &SFU{
		cfg: cfg, api: api, policy: policy, log: opts.Logger, metrics: opts.Metrics, now: opts.Now,
		hooks: newRoomHooks(opts.RoomOpened, opts.RoomClosed),
		idle:  make(chan struct{}),
		rooms: make(map[string]*Room),
	}, nil
}

// MediaAddr is the address of the UDP socket all media goes through.
func (s *SFU) MediaAddr() net.Addr { return s.api.LocalAddr() }

// Join creates a participant for who in the named room. The first event
// sent to sink is Joined; the caller must Close the participant when the
// client goes away. Once the SFU is closed it returns ErrClosed, and
// once it is draining ErrDraining.
func (s *SFU) Join(roomName string, who Identity, sink EventSink) (*Participant, error) {
	if err := s.admit(); err != nil {
		return nil, err
	}
	p, err := newParticipant(s, newID("PA_"), who, sink)
	if err != nil {
		s.release()
		return nil, err
	}
	for {
		r, err := s.room(roomName)
		s.deliverRoomEvents()
		if err != nil {
			p.Close()
			return nil, err
		}
		// Set before join posts p its subscriptions, whose handling reads
		// it; a room that turns out closed is never read.
		p.room = r
		err = r.join(p)
		if err == nil {
			s.log.Info("participant joined", "room", roomName, "participant", p.id, "identity", who.Identity)
			return p, nil
		}
		if !errors.Is(err, errRoomGone) {
			p.Close()
			return nil, err
		}
		// The room emptied and was removed between lookup and join: fetch
		// its successor.
	}
}

func (s *SFU) room(name string) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	r, ok := s.rooms[name]
	if !ok {
		r = newRoom(s, name)
		s.rooms[name] = r
		s.metrics.Rooms.Inc()
		s.hooks.add(name, true)
	}
	return r, nil
}

// removeIfEmpty forgets r once its last client has left: the members
// that remain (relays and the participants they import) are no reason to
// serve a room nobody here is in.
func (s *SFU) removeIfEmpty(r *Room) {
	s.mu.Lock()
	r.mu.Lock()
	if r.clients == 0 && !r.closed {
		r.closed = true
		if s.rooms[r.name] == r {
			delete(s.rooms, r.name)
			s.metrics.Rooms.Dec()
			s.hooks.add(r.name, false)
		}
	}
	r.mu.Unlock()
	s.mu.Unlock()
	s.deliverRoomEvents()
}

// deliverRoomEvents calls the room hooks for what is queued, unless
// another goroutine is at it. The caller holds no lock.
func (s *SFU) deliverRoomEvents() {
	if s.hooks.deliver() {
		s.checkIdle()
	}
}

// RoomCount is the number of rooms with participants.
func (s *SFU) RoomCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// Close tells every participant the server is shutting down, closes their
// connections and the media port. It waits for all of it, and for the
// room hooks' calls. It must not be called from a room hook.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, r := range rooms {
		r.mu.Lock()
		ps := r.othersLocked(nil)
		r.mu.Unlock()
		for _, p := range ps {
			p.send(Bye{Reason: "shutdown"})
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.Close()
			}()
		}
	}
	wg.Wait()
	// Closing their rooms' members told the relays to end.
	s.relays.Wait()
	s.hooks.wait()
	err := s.api.Close()
	s.checkIdle()
	return err
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns prefix followed by 16 random base32 characters.
func newID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("sfu: no randomness: %v", err)) // crypto/rand never fails on Linux
	}
	return prefix + idEncoding.EncodeToString(b[:])
}
