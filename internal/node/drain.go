package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// emptyPoll is how often a draining node looks whether its last clients
// have left.
const emptyPoll = 100 * time.Millisecond

// emptyReport is how often a draining node logs who is left.
const emptyReport = 5 * time.Second

// Drain takes the node out of service without cutting calls short: the
// load balancer is told (/healthz answers 503 "draining"), the cluster
// stops placing rooms here and the node hands its rooms over (it releases
// them but goes on serving their participants), and new joins are
// refused. After DrainNotice every client is asked to move (a move
// message): it opens a new session through the load balancer, where the
// room goes on on a live node, relayed with this one while both serve
// it, and leaves its session here once the new one has media. Sessions
// still here when ctx ends are for the caller's Shutdown to end (bye
// "shutdown", close 1001). A node with no other node to move to tells
// its clients bye "shutdown" at once, and they rejoin when they can.
// Drain returns once no participant and no connection is left here, or
// when ctx ends; the caller then shuts the node down.
func (n *Node) Drain(ctx context.Context) error {
	if n.draining.Swap(true) {
		return nil
	}
	start := time.Now()
	err := n.backend.Drain(ctx)
	// Clients told to go now would reconnect through the load balancer,
	// which still counts this node as healthy until its next checks:
	// give it DrainNotice to see /healthz turn 503 first. Joins meanwhile
	// are refused (unavailable, close 1013) and retried elsewhere.
	select {
	case <-time.After(n.cfg.DrainNotice):
	case <-ctx.Done():
	}
	n.sfu.Drain()
	if ctx.Err() == nil && n.backend.CanMove(ctx) {
		left := n.cfg.DrainTimeout - time.Since(start)
		if deadline, ok := ctx.Deadline(); ok {
			left = time.Until(deadline)
		}
		n.log.Info("draining: clients are asked to move to another node", "time_left", left.Round(time.Millisecond))
		n.signaling.Move(left)
		n.backend.Move(left)
		if werr := n.waitEmpty(ctx); werr != nil {
			return errors.Join(err, werr)
		}
	} else {
		n.backend.EndServed()
	}
	closed := make(chan struct{})
	go func() {
		n.signaling.Close()
		close(closed)
	}()
	select {
	case <-n.sfu.Idle():
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("drain: participants left at the deadline: %w", ctx.Err()))
	}
	select {
	case <-closed:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("drain: connections left at the deadline: %w", ctx.Err()))
	}
	return err
}

// waitEmpty waits until no participant is served here and no WebSocket
// is open here (a client whose session another node serves leaves
// through its WebSocket here too), or until ctx ends.
func (n *Node) waitEmpty(ctx context.Context) error {
	t := time.NewTicker(emptyPoll)
	defer t.Stop()
	report := time.NewTicker(emptyReport)
	defer report.Stop()
	for {
		select {
		case <-n.sfu.Idle():
			if n.signaling.Connections() == 0 {
				return nil
			}
		default:
		}
		select {
		case <-report.C:
			n.log.Info("draining: waiting for clients to move", "participants", n.sfu.Load().Participants, "connections", n.signaling.Connections())
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("drain: clients still here at the deadline: %w", ctx.Err())
		}
	}
}

// Draining reports whether Drain was called.
func (n *Node) Draining() bool { return n.draining.Load() }

// healthz serves GET /healthz: 200 "ok" while the node takes new
// clients, 503 "draining" once it does not, so that a load balancer
// sends new connections elsewhere.
func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	if n.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintln(w, "draining")
		return
	}
	_, _ = fmt.Fprintln(w, "ok")
}
