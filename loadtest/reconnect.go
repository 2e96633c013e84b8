package loadtest

// A participant's connections: it joins, and when its connection ends
// for any reason but the end of the run, a leave, a replaced session or a
// refused token, it rejoins as the web client does, with backoff, on the
// next URL in turn.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	pionrtp "github.com/pion/rtp"
)

var (
	errToken   = errors.New("loadtest: token")
	errPublish = errors.New("loadtest: publish")
)

// connect brings p into its room, trying again with backoff until it is
// there, the run ends or the server refuses it for good. lost is the
// disconnect it rejoins after, nil for its first join, which it tries at
// once. After a disconnect or a failed attempt it tries the next URL.
func (r *loadRun) connect(ctx context.Context, p *participant, lost *Disconnect) {
	backoff := r.cfg.Backoff
	if backoff == (Backoff{}) {
		backoff = DefaultBackoff
	}
	for attempt := 0; ; attempt++ {
		retry := attempt > 0 || lost != nil
		if retry {
			n := attempt
			if lost != nil {
				n++
			}
			if !sleep(ctx, backoff.Wait(n)) {
				return
			}
		}
		r.mu.Lock()
		if retry {
			p.url = (p.url + 1) % len(r.cfg.URLs)
			p.rc.Attempts++
		}
		url := r.cfg.URLs[p.url]
		r.mu.Unlock()

		c, err := r.dial(ctx, p, url)
		if err == nil {
			r.keep(ctx, p, c, retry, lost)
			return
		}
		if ctx.Err() != nil {
			return // the run is over: not the server's failure
		}
		reason, fatal := failure(err)
		r.mu.Lock()
		p.rc.Failures = append(p.rc.Failures, reason)
		first := !r.reasons[reason]
		r.reasons[reason] = true
		r.mu.Unlock()
		if first && r.cfg.Progress != nil {
			then := "retrying with backoff"
			if fatal {
				then = "giving up"
			}
			r.cfg.Progress(fmt.Sprintf("%s: connection attempt failed (%s): %v; %s", p.identity(), reason, err, then))
		}
		if fatal {
			return
		}
	}
}

// keep makes c p's connection, unless the run is closing.
func (r *loadRun) keep(ctx context.Context, p *participant, c *Client, retry bool, lost *Disconnect) {
	now := time.Now()
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		c.Close()
		return
	}
	p.client = c
	p.joins++
	if retry {
		p.rc.Succeeded++
	}
	if lost != nil {
		p.rc.RejoinMS = append(p.rc.RejoinMS, ms(now.Sub(lost.At)))
	}
	if p.publisher && !p.caller && p.joinedAt.IsZero() {
		p.joinedAt = now // publishing: its join is done
	}
	r.mu.Unlock()
	// After p.client is c: a disconnect or a move already seen is told
	// at once.
	c.OnDisconnect(func(d Disconnect) { r.disconnected(ctx, p, c, d) })
	c.OnMove(func(mv Move) { r.moved(ctx, p, c, mv) })
}

// dial connects p to url, joins, and publishes if p is a publisher.
func (r *loadRun) dial(ctx context.Context, p *participant, url string) (*Client, error) {
	room := fmt.Sprintf("%s-%d", r.cfg.RoomPrefix, p.room)
	token, err := r.cfg.Token(ctx, url, room, p.identity())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errToken, err)
	}
	opts := Options{URL: url, Token: token, LoopbackOnly: r.cfg.LoopbackOnly, KeepMessages: keepMessages, IdleTimeout: r.cfg.IdleTimeout, P2P: p.caller}
	if r.cfg.ContinuityFrom > 0 {
		opts.GapsFrom = r.started.Add(r.cfg.ContinuityFrom)
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if p.receives() {
		opts.MaxLayer = r.cfg.MaxLayer
		opts.Observe = func(pub string, audio bool, pkt *pionrtp.Packet, at time.Time) {
			r.clock.observe(p.lat, pub, audio, pkt, at)
		}
	}
	c, err := Dial(ctx, opts)
	if err != nil {
		return c, err
	}
	if p.publisher {
		if err := r.publish(p, c); err != nil {
			c.Close()
			return nil, err
		}
	}
	if r.cfg.DataEvery > 0 {
		if err := c.OpenData(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("loadtest: data channels: %w", err)
		}
	}
	return c, nil
}

// publish has c publish as a publisher of the run, its frames on the
// run's clock.
func (r *loadRun) publish(p *participant, c *Client) error {
	id := c.Self.ID
	r.mu.Lock()
	r.pubIDs[id] = p
	r.mu.Unlock()
	m := Media{Samples: r.samples, Simulcast: r.cfg.Simulcast, Audio: true, AudioOnly: r.cfg.AudioOnly}
	m.Sent = func(layer, frame int) { r.clock.sent(id, layer, frame) }
	r.clock.register(id)
	if err := c.Publish(m); err != nil {
		return fmt.Errorf("%w: %w", errPublish, err)
	}
	return nil
}

// disconnected handles the end of p's connection c, which the server or
// the network ended: it closes c and, unless d is final, rejoins. It runs
// on c's reader, so it leaves the work to a goroutine of its own.
func (r *loadRun) disconnected(ctx context.Context, p *participant, c *Client, d Disconnect) {
	rejoin := !r.cfg.NoReconnect && !d.Final()
	r.mu.Lock()
	if r.closing || p.client != c {
		r.mu.Unlock()
		return
	}
	if p.moving == c {
		// The move goes on, or rejoins if it finds no new session.
		p.moveLost = &d
		r.mu.Unlock()
		return
	}
	p.client, p.leaving = nil, c
	p.rc.Disconnects = append(p.rc.Disconnects, d.Reason())
	if rejoin {
		r.openGapsLocked(p, d.At)
	}
	first := !r.reasons[d.Reason()]
	r.reasons[d.Reason()] = true
	r.bg.Add(1) // under mu while not closing: before closeAll's Wait
	r.mu.Unlock()
	if first && r.cfg.Progress != nil {
		then := "rejoining"
		if !rejoin {
			then = "not rejoining"
		}
		r.cfg.Progress(fmt.Sprintf("%s: disconnected (%s); %s", p.identity(), d.Reason(), then))
	}
	go func() {
		defer r.bg.Done()
		c.Close()
		r.retire(p, c)
		if rejoin {
			r.connect(ctx, p, &d)
		}
	}()
}

// retire folds what the closed connection c received and published into
// p's totals, and what it tells of p's open media gaps.
func (r *loadRun) retire(p *participant, c *Client) {
	tracks := c.Received()
	sent, skipped := c.Published()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteMoveSpansLocked(p, c)
	r.retireCallLocked(p, c)
	p.past.fold(totalsOf(tracks, time.Now()))
	p.pastSent += sent
	p.pastSkipped += skipped
	r.checkGapsLocked(p, tracks)
	p.leaving = nil
}

// failure names why a connection attempt failed, for the report, and
// says whether trying again is pointless: the server refused the token or
// the room, or the session was replaced while it joined.
func failure(err error) (reason string, fatal bool) {
	var se *ServerError
	var ue *UpgradeError
	var d Disconnect
	var ne net.Error
	switch {
	case errors.As(err, &se):
		reason, fatal = "error "+se.Code, se.Fatal()
	case errors.As(err, &ue):
		reason = fmt.Sprintf("http %d", ue.Status)
	case errors.As(err, &d):
		reason, fatal = "closed "+d.Reason(), d.Final()
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "refused"
	case errors.Is(err, syscall.ECONNRESET):
		reason = "reset"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		reason = "timeout"
	default:
		reason = "other"
	}
	switch {
	case errors.Is(err, errToken):
		reason = "token " + reason
	case errors.Is(err, errPublish):
		reason = "publish " + reason
	}
	return reason, fatal
}
