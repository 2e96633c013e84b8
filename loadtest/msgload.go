package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// msgTail is the end of a run in which no chat or data message is sent:
// one sent then might not arrive before the connections close, and would
// count as lost.
const msgTail = 2 * time.Second

// msgTopic is the topic of the run's application data.
const msgTopic = "load"

// MessageSummary is what the run's chat or application data did
// (RunConfig.ChatEvery, DataEvery): how many messages the participants
// sent, how many of the deliveries due reached their receivers, and how
// long each took.
type MessageSummary struct {
	// Sent counts the messages sent; Failed those whose send failed (the
	// connection or channel was closing), and Refused the chat messages
	// the server did not take (rate_limited, say): never sent back to
	// their sender, whose connection stayed open. (The server does not
	// send data back to its sender: data refused counts as not
	// delivered.)
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
	// Lossy is set for data sent on the lossy channel, whose losses are
	// reported but are no failure.
	Lossy bool `json:"lossy,omitempty"`

	name string // "chat" or "data", in the table and the failures
}

// messenger is a way for participants to send text to their room.
type messenger struct {
	name string
	send func(c *Client, text string) error
	// received returns the texts c received, with when it read each.
	received func(c *Client) map[string]time.Time
	echoed   bool // the server sends each message back to its sender too
	lossy    bool
}

// chatMessenger sends chat messages.
var chatMessenger = messenger{
	name: "chat",
	send: (*Client).SendChat,
	received: func(c *Client) map[string]time.Time {
		m := map[string]time.Time{}
		for _, msg := range c.Chat() {
			m[msg.Text] = msg.Arrived
		}
		return m
	},
	echoed: true,
}

// dataMessenger sends application data to the whole room, on the lossy
// channel or the reliable one.
func dataMessenger(lossy bool) messenger {
	return messenger{
		name: "data",
		send: func(c *Client, text string) error { return c.SendData(msgTopic, nil, []byte(text), lossy) },
		received: func(c *Client) map[string]time.Time {
			m := map[string]time.Time{}
			for _, msg := range c.DataReceived() {
				if msg.Topic == msgTopic {
					m[string(msg.Payload)] = msg.At
				}
			}
			return m
		},
		lossy: lossy,
	}
}

// msgSent is one message a participant sent, and who was to get it.
type msgSent struct {
	from *Client
	at   time.Time
	to   []*Client // the room's other connections when it was sent
}

// msgDriver sends the run's chat or data: each participant connected
// sends a message every interval, the sends spread over it.
type msgDriver struct {
	r     *loadRun
	every time.Duration
	m     messenger

	mu   sync.Mutex
	sent map[string]msgSent // by text, which is unique
	seq  int
	last time.Time // the last send
	sum  MessageSummary
}

// startMessages has every participant send a message of m every interval
// until end; the function it returns stops that and returns what it did,
// nil for an interval of 0.
func (r *loadRun) startMessages(ctx context.Context, end time.Time, every time.Duration, m messenger) func() *MessageSummary {
	if every <= 0 {
		return func() *MessageSummary { return nil }
	}
	d := &msgDriver{r: r, every: every, m: m, sent: map[string]msgSent{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.run(ctx, end)
	}()
	return func() *MessageSummary {
		cancel()
		<-done
		// What was sent last gets its time to arrive (a ramp ends the
		// run early, before the tail without messages).
		d.mu.Lock()
		last := d.last
		d.mu.Unlock()
		time.Sleep(time.Until(last.Add(msgTail)))
		return d.summary(r.isOpen())
	}
}

// run sends until ctx ends or the run's last msgTail begins.
func (d *msgDriver) run(ctx context.Context, end time.Time) {
	for {
		rooms := d.r.connected()
		n := 0
		for _, room := range rooms {
			n += len(room)
		}
		if n == 0 {
			if !sleep(ctx, d.every) {
				return
			}
			continue
		}
		gap := d.every / time.Duration(n)
		for _, room := range rooms {
			for _, c := range room {
				if !sleep(ctx, gap) || time.Now().After(end.Add(-msgTail)) {
					return
				}
				d.send(c, room)
			}
		}
	}
}

// send has c send one message to its room, whose connections are room.
func (d *msgDriver) send(c *Client, room []*Client) {
	d.mu.Lock()
	d.seq++
	text := fmt.Sprintf("load %s %d %s", d.m.name, d.seq, c.Self.ID)
	d.mu.Unlock()
	to := make([]*Client, 0, len(room)-1)
	for _, o := range room {
		if o != c {
			to = append(to, o)
		}
	}
	at := time.Now()
	err := d.m.send(c, text)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sum.Sent++
	d.last = at
	if err != nil {
		d.sum.Failed++
		return
	}
	d.sent[text] = msgSent{from: c, at: at, to: to}
}

// summary matches what the connections received against what was sent.
// open reports whether a connection was still the participant's at the
// end of the run.
func (d *msgDriver) summary(open func(*Client) bool) *MessageSummary {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sum
	s.name, s.Lossy = d.m.name, d.m.lossy
	got := map[*Client]map[string]time.Time{}
	arrived := func(c *Client) map[string]time.Time {
		if m, ok := got[c]; ok {
			return m
		}
		m := d.m.received(c)
		got[c] = m
		return m
	}
	var lat []float64
	for text, m := range d.sent {
		if _, echoed := arrived(m.from)[text]; d.m.echoed && open(m.from) && !echoed {
			// The server stamps every chat message it takes and sends it
			// to the whole room, its sender included: nobody was due this.
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

// judge lists how the messages failed: one due that did not arrive
// (unless sent lossy), or messages the server refused (the run asked more
// of it than its rate limit allows, and measured that rather than the
// messages).
func (s *MessageSummary) judge() []string {
	var out []string
	if s == nil {
		return out
	}
	if s.Delivered < s.Expected && !s.Lossy {
		out = append(out, fmt.Sprintf("%s: %d of %d deliveries due did not arrive", s.name, s.Expected-s.Delivered, s.Expected))
	}
	if s.Refused > 0 {
		out = append(out, fmt.Sprintf("%s: the server refused %d of %d messages (its rate limit?)", s.name, s.Refused, s.Sent))
	}
	return out
}

func (s *MessageSummary) writeTable(p func(format string, args ...any)) {
	if s == nil {
		return
	}
	const val = "%-14s %10s  %s\n"
	title := "Chat"
	if s.name == "data" {
		title = "Application data (reliable)"
		if s.Lossy {
			title = "Application data (lossy)"
		}
	}
	p("\n%s\n", title)
	p(val, "sent", strconv.Itoa(s.Sent), fmt.Sprintf("messages (%d failed, %d refused)", s.Failed, s.Refused))
	p(val, "delivered", fmt.Sprintf("%d/%d", s.Delivered, s.Expected), "to the others in the room, of those due")
	l := s.LatencyMS
	p(val, "latency", strings.Join([]string{num(l.P50, 2), num(l.P95, 2), num(l.P99, 2), num(l.Max, 2)}, " / "), "ms p50 / p95 / p99 / max")
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
