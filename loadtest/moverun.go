package loadtest

// A participant of a run asked to move: it moves make before break (see
// move.go) on the next of the run's URLs, and the pauses the move makes
// in what subscribers receive are measured (movegaps.go).

import (
	"context"
	"fmt"
	"time"
)

// moved starts p's move from its connection c, unless the run is closing,
// c is no longer p's connection or p is moving already. It runs on c's
// reader, so it leaves the work to a goroutine of its own.
func (r *loadRun) moved(ctx context.Context, p *participant, c *Client, mv Move) {
	r.mu.Lock()
	if r.closing || p.client != c || p.moving != nil {
		r.mu.Unlock()
		return
	}
	p.moving = c
	r.openMoveGapsLocked(p, mv.At)
	first := !r.reasons["move"]
	r.reasons["move"] = true
	r.bg.Add(1) // under mu while not closing: before closeAll's Wait
	r.mu.Unlock()
	if first && r.cfg.Progress != nil {
		r.cfg.Progress(fmt.Sprintf("%s: asked to move (%s left); moving make before break", p.identity(), mv.TimeLeft.Round(time.Millisecond)))
	}
	go func() {
		defer r.bg.Done()
		r.move(ctx, p, c)
	}()
}

// move opens p's new session, waits for its media, makes it p's
// connection and leaves old. Without a new session, old goes on until
// its node ends it, and p then rejoins as after any disconnect.
func (r *loadRun) move(ctx context.Context, p *participant, old *Client) {
	start := time.Now()
	var next *Client
	caught := false
	for next == nil {
		if next = r.dialMove(ctx, p); next == nil {
			break
		}
		caught = next.CatchUp(ctx, old)
		sleep(ctx, MoveLinger)
		if next.hasEnded() && ctx.Err() == nil {
			// Lost before it took over: the old session still serves.
			next.Close()
			next = nil
		}
	}
	if next == nil {
		r.mu.Lock()
		p.moving = nil
		lost := p.moveLost
		p.moveLost = nil
		if !r.closing {
			p.mv.Failed++
		}
		r.endMoveLocked(p, time.Now())
		r.mu.Unlock()
		if lost != nil {
			r.disconnected(ctx, p, old, *lost)
		}
		return
	}
	r.mu.Lock()
	if r.closing {
		p.moving = nil
		r.mu.Unlock()
		next.Close()
		return
	}
	p.client, p.leaving, p.moving, p.moveLost = next, old, nil, nil
	p.joins++
	p.mv.Moves++
	if !caught {
		p.mv.Unsettled++
	}
	p.mv.OverlapMS = append(p.mv.OverlapMS, ms(time.Since(start)))
	r.mu.Unlock()
	next.OnDisconnect(func(d Disconnect) { r.disconnected(ctx, p, next, d) })
	next.OnMove(func(mv Move) { r.moved(ctx, p, next, mv) })
	old.Leave()
	r.mu.Lock()
	r.noteMoveSpansLocked(p, old)
	r.endMoveLocked(p, time.Now())
	r.mu.Unlock()
	r.retire(p, old)
}

// dialMove opens p's new session: on the next URL when the run has
// several, else through the same one (a load balancer sends it to a live
// node), trying again with backoff while the old session lasts. It
// returns nil when the run ends, the old session ended (the usual rejoin
// takes over) or the server refused p for good.
func (r *loadRun) dialMove(ctx context.Context, p *participant) *Client {
	backoff := r.cfg.Backoff
	if backoff == (Backoff{}) {
		backoff = DefaultBackoff
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !sleep(ctx, backoff.Wait(attempt)) {
			return nil
		}
		r.mu.Lock()
		if r.closing || p.moveLost != nil {
			r.mu.Unlock()
			return nil
		}
		p.url = (p.url + 1) % len(r.cfg.URLs)
		p.mv.Attempts++
		url := r.cfg.URLs[p.url]
		r.mu.Unlock()
		c, err := r.dial(ctx, p, url)
		if err == nil {
			return c
		}
		if ctx.Err() != nil {
			return nil
		}
		reason, fatal := failure(err)
		r.mu.Lock()
		p.mv.Failures = append(p.mv.Failures, reason)
		r.mu.Unlock()
		if fatal {
			return nil
		}
	}
}
