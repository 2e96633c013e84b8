package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// chatTail is the end of a run in which no chat message is sent: one
// sent then might not arrive before the connections close, and would
// count as lost.
const chatTail = 2 * time.Second

// ChatSummary is what the run's chat did (RunConfig.ChatEvery): how many
// messages the participants sent, how many of the deliveries due reached
// their receivers, and how long each took.
type ChatSummary struct {
	// Sent counts the messages sent; Failed those whose send failed (the
	// connection was closing), and Refused those the server did not take
	// (rate_limited, say): never sent back to their sender, whose
	// connection stayed open.
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Refused int `json:"refused"`
	// Expected counts the deliveries due: for each message the server
	// took, every other participant of its room whose connection was
	// open when it was sent and still was at the end of the run.
	// Delivered counts those among them that received it.
	Expected  int `json:"expected"`
	Delivered int `json:"delivered"`
	// LatencyMS is from the sender's write to each receiver's read, on
	// this machine's clock.
	LatencyMS Percentiles `json:"latency_ms"`
}

// chatSent is one message a participant sent, and who was to get it.
type chatSent struct {
	from *Client
	at   time.Time
	to   []*Client // the room's other connections when it was sent
}

// chatDriver sends the run's chat: each participant connected sends a
// message every RunConfig.ChatEvery, the sends spread over the interval.
type chatDriver struct {
	r     *loadRun
	every time.Duration

	mu   sync.Mutex
	sent map[string]chatSent // by text, which is unique
	seq  int
	last time.Time // the last send
	sum  ChatSummary
}

// startChat starts the run's chat (RunConfig.ChatEvery) until end; the
// function it returns stops it and returns what it did, nil without chat.
func (r *loadRun) startChat(ctx context.Context, end time.Time) func() *ChatSummary {
	if r.cfg.ChatEvery <= 0 {
		return func() *ChatSummary { return nil }
	}
	d := &chatDriver{r: r, every: r.cfg.ChatEvery, sent: map[string]chatSent{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.run(ctx, end)
	}()
	return func() *ChatSummary {
		cancel()
		<-done
		// What was sent last gets its time to arrive (a ramp ends the
		// run early, before the tail without chat).
		d.mu.Lock()
		last := d.last
		d.mu.Unlock()
		time.Sleep(time.Until(last.Add(chatTail)))
		return d.summary(r.isOpen())
	}
}

// run sends until ctx ends or the run's last chatTail begins.
func (d *chatDriver) run(ctx context.Context, end time.Time) {
	for {
		rooms := d.r.connected()
		n := 0
		for _, room := range rooms {
			n += len(room)
		}
		if n == 0 {
			if !sleepCtx(ctx, d.every) {
				return
			}
			continue
		}
		gap := d.every / time.Duration(n)
		for _, room := range rooms {
			for _, c := range room {
				if !sleepCtx(ctx, gap) || time.Now().After(end.Add(-chatTail)) {
					return
				}
				d.send(c, room)
			}
		}
	}
}

// send has c send one message to its room, whose connections are room.
func (d *chatDriver) send(c *Client, room []*Client) {
	d.mu.Lock()
	d.seq++
	text := fmt.Sprintf("load chat %d %s", d.seq, c.Self.ID)
	d.mu.Unlock()
	to := make([]*Client, 0, len(room)-1)
	for _, o := range room {
		if o != c {
			to = append(to, o)
		}
	}
	at := time.Now()
	err := c.SendChat(text)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sum.Sent++
	d.last = at
	if err != nil {
		d.sum.Failed++
		return
	}
	d.sent[text] = chatSent{from: c, at: at, to: to}
}

// summary matches what the connections received against what was sent.
// open reports whether a connection was still the participant's at the
// end of the run.
func (d *chatDriver) summary(open func(*Client) bool) *ChatSummary {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sum
	got := map[*Client]map[string]time.Time{}
	arrived := func(c *Client) map[string]time.Time {
		if m, ok := got[c]; ok {
			return m
		}
		m := map[string]time.Time{}
		for _, msg := range c.Chat() {
			m[msg.Text] = msg.Arrived
		}
		got[c] = m
		return m
	}
	var lat []float64
	for text, m := range d.sent {
		if _, echoed := arrived(m.from)[text]; open(m.from) && !echoed {
			// The server stamps every message it takes and sends it to
			// the whole room, its sender included: nobody was due this.
			s.Refused++
			continue
		}
		for _, c := range m.to {
			if !open(c) {
				continue
			}
			s.Expected++
			if t, ok := arrived(c)[text]; ok {
				s.Delivered++
				lat = append(lat, float64(t.Sub(m.at).Microseconds())/1000)
			}
		}
	}
	s.LatencyMS = PercentilesOf(lat)
	return &s
}

// judge lists how the chat failed: a message due that did not arrive, or
// messages the server refused (the run asked more of it than its chat
// rate limit allows, and measured that rather than the chat).
func (s *ChatSummary) judge() []string {
	var out []string
	if s == nil {
		return out
	}
	if s.Delivered < s.Expected {
		out = append(out, fmt.Sprintf("chat: %d of %d deliveries due did not arrive", s.Expected-s.Delivered, s.Expected))
	}
	if s.Refused > 0 {
		out = append(out, fmt.Sprintf("chat: the server refused %d of %d messages (its chat rate limit?)", s.Refused, s.Sent))
	}
	return out
}

func (s *ChatSummary) writeTable(p func(format string, args ...any)) {
	if s == nil {
		return
	}
	const val = "%-14s %10s  %s\n"
	p("\nChat\n")
	p(val, "sent", strconv.Itoa(s.Sent), fmt.Sprintf("messages (%d failed, %d refused)", s.Failed, s.Refused))
	p(val, "delivered", fmt.Sprintf("%d/%d", s.Delivered, s.Expected), "to the others in the room, of those due")
	l := s.LatencyMS
	p(val, "latency", strings.Join([]string{num(l.P50, 2), num(l.P95, 2), num(l.P99, 2), num(l.Max, 2)}, " / "), "ms p50 / p95 / p99 / max")
}

// sleepCtx sleeps for d, or less if ctx ends: it reports whether ctx is
// still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// connected lists, room by room, the participants' connections open now.
func (r *loadRun) connected() [][]*Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	rooms := make([][]*Client, r.cfg.Rooms)
	for _, p := range r.parts {
		if p.client != nil {
			rooms[p.room] = append(rooms[p.room], p.client)
		}
	}
	return rooms
}

// isOpen reports whether c is still a participant's connection.
func (r *loadRun) isOpen() func(*Client) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	open := map[*Client]bool{}
	for _, p := range r.parts {
		if p.client != nil {
			open[p.client] = true
		}
	}
	return func(c *Client) bool { return open[c] }
}
