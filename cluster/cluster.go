package cluster

import (
	"context"
	"time"

	"github.com/sfu-project/sfu/signaling"
)

// ErrUnavailable is returned when the shared state cannot be reached (Redis
// down or timing out). It wraps signaling.ErrUnavailable: the client is
// told to try again, never kept waiting.
var ErrUnavailable error = unavailableError{}

type unavailableError struct{}

func (unavailableError) Error() string { return "cluster: shared state unavailable" }

// Is makes ErrUnavailable a signaling.ErrUnavailable too.
func (unavailableError) Is(target error) bool { return target == signaling.ErrUnavailable }

// NodeInfo is what a node tells the others about itself.
type NodeInfo struct {
	// ID names the node; unique in the deployment.
	ID string `json:"id"`
	// MediaAddrs are the addresses the node advertises for media (ICE).
	MediaAddrs []string `json:"media_addrs,omitempty"`
	// Limits are the node's configured capacity; zero fields mean no limit.
	Limits Limits `json:"limits"`
	// Load is the node's load when it last announced itself.
	Load Load `json:"load"`
	// Draining is set while the node takes no new participants.
	Draining bool `json:"draining,omitempty"`
	// Updated is when the node last announced itself (its own clock).
	Updated time.Time `json:"updated"`
}

// Limits is a node's capacity. Zero means no limit.
type Limits struct {
	Participants int     `json:"participants,omitempty"`
	Tracks       int     `json:"tracks,omitempty"`
	CPU          float64 `json:"cpu,omitempty"` // fraction of the machine, 0..1
}

// Load is what a node carries.
type Load struct {
	Rooms            int     `json:"rooms"`
	Participants     int     `json:"participants"`
	Tracks           int     `json:"tracks"`
	CPU              float64 `json:"cpu"`                     // fraction of the machine, 0..1
	ForwardedBitrate int64   `json:"forwarded_bps,omitempty"` // bits per second sent to subscribers
}

// Registry is the set of live nodes.
type Registry interface {
	// Announce publishes info; it stays visible for ttl unless announced
	// again.
	Announce(ctx context.Context, info NodeInfo, ttl time.Duration) error
	// Withdraw removes the node at once (a clean shutdown).
	Withdraw(ctx context.Context, id string) error
	// Nodes lists the live nodes, in no particular order.
	Nodes(ctx context.Context) ([]NodeInfo, error)
}

// Member is one participant of a room as the directory records it.
type Member struct {
	// ID is the participant's session ID.
	ID string `json:"id"`
	// Node serves the participant's media.
	Node string `json:"node"`
	// Info is the participant's description, encoded by the caller.
	Info []byte `json:"info,omitempty"`
}

// Directory records where rooms live. All the state of one room is
// removed together, by whichever node sees last that no live node serves
// it any more, and never while a live node still serves it.
type Directory interface {
	// Claim makes node the host of room unless another holds a live
	// claim, and returns the host. A claim lasts ttl unless renewed.
	// The node that holds the claim also serves the room for ttl, as
	// after Serve, so that another node's Leave between this Claim and
	// the host's first Serve cannot remove the room it has just claimed.
	Claim(ctx context.Context, room, node string, ttl time.Duration) (host string, err error)
	// Host returns the room's host, "" when none holds a live claim.
	Host(ctx context.Context, room string) (string, error)
	// Serve records that node serves participants of room, for ttl
	// unless called again; the host renews its claim with the same call.
	Serve(ctx context.Context, room, node string, ttl time.Duration) error
	// Leave records that node serves no participant of room any more
	// and removes the node's members. When no live node serves the room,
	// its whole state (claim, servers, members) is removed and Leave
	// reports true.
	Leave(ctx context.Context, room, node string) (removed bool, err error)
	// Release gives up node's claim on room, if node holds it, and
	// nothing else: the node still serves the room until its Serve
	// lapses or it leaves, and its members stay. The next Claim, by any
	// node, succeeds. A draining node releases its rooms so that they
	// are placed on a live node while it still serves their
	// participants.
	Release(ctx context.Context, room, node string) error
	// Servers lists the live nodes serving room.
	Servers(ctx context.Context, room string) ([]string, error)
	// PutMember adds or replaces a member of room.
	PutMember(ctx context.Context, room string, m Member) error
	// RemoveMember removes a member of room; removing an absent one is
	// not an error.
	RemoveMember(ctx context.Context, room, id string) error
	// Members lists room's members on live nodes.
	Members(ctx context.Context, room string) ([]Member, error)
}

// Bus carries messages between nodes.
type Bus interface {
	// Send delivers msgs to node to, in order, in one exchange with the
	// shared state. Messages from one sender to one receiver arrive in
	// the order they were sent; a message to a node that is not listening
	// may be lost.
	Send(ctx context.Context, to string, msgs ...[]byte) error
	// Receive calls handle with each message addressed to node, one at a
	// time, in order, until ctx ends; then it returns ctx's error. It
	// survives a lost connection to the shared state by reconnecting.
	Receive(ctx context.Context, node string, handle func(msg []byte)) error
}
