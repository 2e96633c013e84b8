package loadtest

import (
	"fmt"
	"time"
)

// participant is one synthetic participant of a run.
type participant struct {
	publisher bool
	caller    bool // of a two-party call (RunConfig.P2P); also a publisher
	index     int  // among the run's publishers, or its subscribers
	room      int
	started   time.Time // its first WebSocket connect began
	lat       *latencies

	// Guarded by loadRun.mu:
	joinedAt time.Time // every expected track flowing (zero: not yet)
	client   *Client   // its connection; nil before it joined and between connections
	// leaving is the connection being closed after a disconnect: it counts
	// until its figures are folded into past and pastSent, pastSkipped.
	leaving               *Client
	past                  TrackTotals
	pastSent, pastSkipped int64
	url                   int // index in RunConfig.URLs of its latest attempt
	firstURL              int // ... and of its first
	joins                 int // connections it had
	rc                    ReconnectResult
	gaps                  map[*participant]*gap // a subscriber's open media gaps, by publisher
	// moving is the connection p is moving from, while it moves; moveLost
	// says how that connection ended meanwhile, if it did.
	moving   *Client
	moveLost *Disconnect
	mv       MoveResult
	moveGaps map[*participant]*moveGap // a subscriber's open move gaps, by publisher
	call     callState                 // a caller's earlier connections
}

// identity is the participant's identity in its room.
func (p *participant) identity() string {
	if p.caller {
		return fmt.Sprintf("caller-%d", p.index)
	}
	if p.publisher {
		return fmt.Sprintf("pub-%d", p.index)
	}
	return fmt.Sprintf("sub-%d", p.index)
}
