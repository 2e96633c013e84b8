package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signaling"
)

// ErrNoCapacity is returned when no live node can take a new room.
// It wraps signaling.ErrUnavailable: the client tries again later.
var ErrNoCapacity = fmt.Errorf("cluster: no node has capacity for the room: %w", signaling.ErrUnavailable)

// errFull is joinHere's answer on a node at its participant limit; it
// crosses the bus as a result's Full flag.
var errFull = errors.New("cluster: node full")

// Config is one node's part in the cluster.
type Config struct {
	// NodeID names this node; unique in the deployment.
	NodeID string
	// MediaAddrs are the addresses the node advertises for media.
	MediaAddrs []string
	// Limits are the node's capacity for placement.
	Limits Limits
	// Announce is how often the node renews its registry entry and its
	// rooms' claims.
	Announce time.Duration
	// TTL is how long an entry or claim lives without renewal: a node
	// that stops is dead to the others after at most TTL.
	TTL time.Duration
	// CallTimeout bounds a call relayed to another node and each access
	// to the shared state.
	CallTimeout time.Duration
}

// DefaultConfig is a node with a random ID that announces itself every
// 2 s and is dead to the others 6 s after it stops.
func DefaultConfig() Config {
	return Config{NodeID: RandomNodeID(), Announce: 2 * time.Second, TTL: 6 * time.Second, CallTimeout: 5 * time.Second}
}

// RandomNodeID is a fresh node ID.
func RandomNodeID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "node-" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// Store is the shared state a Backend works with.
type Store struct {
	Registry  Registry
	Directory Directory
	Bus       Bus
	// Chat keeps the rooms' chat; a room's history is forgotten when the
	// room is removed. Nil: no chat to forget.
	Chat signaling.ChatLog
}

// Backend implements signaling.Backend for a node of a cluster: a room
// served here is joined on the local SFU; a room served elsewhere is
// joined on its node, with the session's calls and events relayed over
// the Bus, so that a client may open its WebSocket on any node.
//
// Lock order: hostedRoom.mu, then Backend.mu. Neither is held while
// calling the SFU, an EventSink or the Bus, except that hostedRoom.mu is
// held across the directory calls and the SFU join that open a room here,
// so that a room's first join and its last leave never interleave.
type Backend struct {
	cfg   Config
	sfu   *sfu.SFU
	store Store
	log   *slog.Logger
	load  func() Load // nil: the SFU's counts alone

	calls atomic.Uint64 // numbers this node's calls
	kick  chan struct{} // asks renewLoop for a round now

	renewCtx  context.Context // ends renewLoop
	stopRenew context.CancelFunc
	renewDone chan struct{}   // closed when renewLoop has returned
	started   atomic.Bool     // Start succeeded: renewLoop runs
	draining  atomic.Bool     // Drain was called
	absent    map[string]bool // nodes missing at the last round; renewLoop's own
	// relayUnserved are the relays (room/peer) whose peer did not serve
	// the room at the last round; renewLoop's own.
	relayUnserved map[string]bool

	mu       sync.Mutex                // guards the fields below
	pending  map[uint64]chan envelope  // calls waiting for their result
	remote   map[string]*remoteSession // sessions this node relays, by session ID
	served   map[string]*servedSession // sessions served here for other nodes, by sender/session
	hosted   map[string]*hostedRoom    // rooms served here, by name
	joining  int                       // joins under way here (reserve)
	outboxes map[string]*outbox        // by receiving node
	relays   map[string]*relayEnd      // media relays, by room/peer
	live     map[string]bool           // nodes seen alive at the last look; nil before it
	closed   bool

	ctx      context.Context // ends when the backend closes
	cancel   context.CancelFunc
	wg       sync.WaitGroup // every goroutine; Add under mu while ctx lives
	servedWG sync.WaitGroup // the served sessions' goroutines
}

// NewBackend returns the backend of node cfg.NodeID for media. load, if
// not nil, measures the node for the registry (CPU, tracks, bit rate);
// the rooms and participants are counted by the backend. Start starts
// its work.
func NewBackend(cfg Config, media *sfu.SFU, store Store, load func() Load, log *slog.Logger) *Backend {
	def := DefaultConfig()
	if cfg.NodeID == "" {
		cfg.NodeID = def.NodeID
	}
	if cfg.Announce <= 0 {
		cfg.Announce = def.Announce
	}
	if cfg.TTL <= 0 {
		cfg.TTL = def.TTL
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = def.CallTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	renewCtx, stopRenew := context.WithCancel(ctx)
	return &Backend{
		renewCtx: renewCtx, stopRenew: stopRenew, renewDone: make(chan struct{}),
		cfg: cfg, sfu: media, store: store, load: load, log: log.With("node", cfg.NodeID),
		pending: make(map[uint64]chan envelope), remote: make(map[string]*remoteSession),
		served: make(map[string]*servedSession), hosted: make(map[string]*hostedRoom),
		outboxes: make(map[string]*outbox), relays: make(map[string]*relayEnd), kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
	}
}

// NodeID is this node's ID.
func (b *Backend) NodeID() string { return b.cfg.NodeID }

// Start announces the node and starts receiving from the Bus and renewing
// the node's entries; Close stops it. The first announcement is made
// before Start returns, so that the node takes part in placement at once.
func (b *Backend) Start() error {
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.CallTimeout)
	err := b.store.Registry.Announce(ctx, b.info(), b.cfg.TTL)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: announce node %s: %w", b.cfg.NodeID, err)
	}
	b.started.Store(true)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		_ = b.store.Bus.Receive(b.ctx, b.cfg.NodeID, b.handle)
	}()
	go func() {
		defer close(b.renewDone)
		b.renewLoop()
	}()
	return nil
}

// Close ends every session this node relays or serves for another node,
// withdraws the node from the registry and stops the backend's
// goroutines. Sessions joined on the local SFU end with the SFU.
func (b *Backend) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	remote := make([]*remoteSession, 0, len(b.remote))
	for _, s := range b.remote {
		remote = append(remote, s)
	}
	served := make([]*servedSession, 0, len(b.served))
	for _, s := range b.served {
		served = append(served, s)
	}
	b.mu.Unlock()
	for _, s := range remote {
		s.end("shutdown", true)
	}
	for _, s := range served {
		s.stop()
	}
	b.servedWG.Wait() // their closes are queued for the front doors
	b.closeRelays()
	// No round may announce the node again after it is withdrawn.
	b.stopRenew()
	if b.started.Load() {
		<-b.renewDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.CallTimeout)
	if err := b.store.Registry.Withdraw(ctx, b.cfg.NodeID); err != nil {
		b.log.Warn("cannot withdraw the node from the registry", "err", err)
	}
	cancel()
	b.mu.Lock()
	b.cancel() // under mu: no goroutine is added once it is done
	b.mu.Unlock()
	b.wg.Wait()
}

// Join implements signaling.Backend. A room open on this node is joined
// here without consulting the shared state, so that calls in running
// rooms go on while it is unreachable; otherwise the room's host is looked
// up, or chosen and claimed, and the session is joined there. A draining
// node refuses every join (sfu.ErrDraining).
func (b *Backend) Join(room string, who sfu.Identity, sink sfu.EventSink) (signaling.Session, error) {
	if b.draining.Load() {
		// Even as a front door: the client would be asked to move again.
		return nil, sfu.ErrDraining
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.CallTimeout)
	defer cancel()
	if s, redirect, err := b.joinIfOpen(ctx, room, who, sink); s != nil || err != nil {
		return s, err
	} else if redirect != "" {
		return b.joinOn(ctx, redirect, room, who, sink)
	}
	host, err := b.store.Directory.Host(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("cluster: look up room %s: %w", room, err)
	}
	return b.joinOn(ctx, host, room, who, sink)
}

// joinOn joins the session on host, choosing and claiming one first when
// host is "". A host that is full has the session served by another node,
// so that the room spans both. A node that finds another holds the room
// redirects the join there; a few redirects are followed.
func (b *Backend) joinOn(ctx context.Context, host, room string, who sfu.Identity, sink sfu.EventSink) (signaling.Session, error) {
	for range 3 {
		nodes, err := b.store.Registry.Nodes(ctx)
		if err != nil {
			return nil, fmt.Errorf("cluster: list nodes: %w", err)
		}
		if host == "" {
			choice, ok := Place(nodes, b.cfg.NodeID)
			if !ok {
				return nil, ErrNoCapacity
			}
			if host, err = b.store.Directory.Claim(ctx, room, choice, b.cfg.TTL); err != nil {
				return nil, fmt.Errorf("cluster: claim room %s: %w", room, err)
			}
		}
		full := map[string]bool{}
		if n, ok := nodeByID(nodes, host); ok && !HasRoom(n) {
			full[host] = true
		}
		for range 3 {
			target := host
			if full[host] {
				if target, err = b.spanTarget(ctx, room, host, nodes, full); err != nil {
					return nil, err
				}
			}
			var (
				s        signaling.Session
				redirect string
			)
			if target == b.cfg.NodeID {
				s, redirect, err = b.joinHere(ctx, room, who, sink, target != host)
			} else {
				s, redirect, err = b.joinRemote(ctx, target, room, who, sink, target != host)
			}
			if errors.Is(err, errFull) {
				full[target] = true // announced as having room, but full by now
				continue
			}
			if redirect == "" {
				return s, err
			}
			host = redirect
			break
		}
	}
	return nil, fmt.Errorf("cluster: room %s: no node took the join (its host changed, or nodes were full): %w", room, ErrUnavailable)
}

// spanTarget chooses the node to serve a join of room when its host is
// full: a node already serving the room with capacity left (one relay
// fewer), else the least loaded node with capacity, the same whichever
// node the client came in through; when none has any,
// the join is refused (ErrNoCapacity) and the client tries again.
func (b *Backend) spanTarget(ctx context.Context, room, host string, nodes []NodeInfo, full map[string]bool) (string, error) {
	var open []NodeInfo
	for _, n := range nodes {
		if !full[n.ID] {
			open = append(open, n)
		}
	}
	nodes = open
	servers, err := b.store.Directory.Servers(ctx, room)
	if err != nil {
		return "", fmt.Errorf("cluster: list room %s's nodes: %w", room, err)
	}
	var serving []NodeInfo
	for _, id := range servers {
		if n, ok := nodeByID(nodes, id); ok && id != host {
			serving = append(serving, n)
		}
	}
	// No preference for the front door here: nodes that see the same
	// loads choose the same node, so that concurrent joins of a full room
	// fill one more node rather than each opening a node of its own.
	if id, ok := Place(serving, ""); ok {
		return id, nil
	}
	if id, ok := Place(nodes, ""); ok {
		return id, nil
	}
	return "", ErrNoCapacity
}

// nodeByID finds id among nodes.
func nodeByID(nodes []NodeInfo, id string) (NodeInfo, bool) {
	for _, n := range nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// newSessionID names a relayed session.
func newSessionID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}
