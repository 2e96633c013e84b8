package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Drain takes the node out of service without cutting calls short: the
// load balancer is told (/healthz answers 503 "draining"), the cluster
// stops placing rooms here and the node gives up its rooms, new joins are
// refused, and every client is told to go (bye "shutdown", close 1001);
// clients rejoin through another node, where the room is placed anew.
// Drain returns once no participant is left here, or when ctx ends; the
// caller then shuts the node down.
func (n *Node) Drain(ctx context.Context) error {
	if n.draining.Swap(true) {
		return nil
	}
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
