package firefox

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket to Firefox's BiDi endpoint. Commands carry an id
// the answer repeats; one reader goroutine hands each answer to the
// command waiting for it, and each event to onEvent.
type conn struct {
	ws      *websocket.Conn
	onEvent func(method string, params json.RawMessage) // called on the reader goroutine

	writeMu sync.Mutex // serialises writes (gorilla allows one writer)

	mu      sync.Mutex // guards nextID, pending and err
	nextID  uint64
	pending map[uint64]chan message
	err     error // why the connection ended; set once

	done chan struct{} // closed when the reader has returned
}

// message is any message from Firefox: an answer to a command (type
// "success" or "error", with the command's id) or an event.
type message struct {
	Type    string          `json:"type"`
	ID      *uint64         `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// dial connects to a BiDi WebSocket URL (ws://127.0.0.1:PORT/session).
func dial(ctx context.Context, url string, onEvent func(string, json.RawMessage)) (*conn, error) {
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("firefox: connect %s: %w", url, err)
	}
	c := &conn{ws: ws, onEvent: onEvent, pending: map[uint64]chan message{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

// read dispatches messages until the connection fails, then fails every
// command still waiting.
func (c *conn) read() {
	defer close(c.done)
	for {
		var m message
		if err := c.ws.ReadJSON(&m); err != nil {
			c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
			return
		}
		if m.ID == nil {
			if m.Type == "event" && c.onEvent != nil {
				c.onEvent(m.Method, m.Params)
			}
			continue // an event, or an error about no command (unparsable input)
		}
		c.mu.Lock()
		ch := c.pending[*m.ID]
		delete(c.pending, *m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m // buffered: never blocks
		}
	}
}

// fail records why the connection ended and wakes every waiting command.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	pending := c.pending
	c.pending = map[uint64]chan message{}
	c.mu.Unlock()
	for _, ch := range pending {
		close(ch)
	}
}

// call sends a command and waits for its answer, until ctx ends; the
// result is decoded into out unless out is nil.
func (c *conn) call(ctx context.Context, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan message, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("firefox: %s: %w", method, err)
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	req, err := json.Marshal(struct {
		ID     uint64 `json:"id"`
		Method string `json:"method"`
		Params any    `json:"params"`
	}{id, method, params})
	if err != nil {
		forget()
		return fmt.Errorf("firefox: %s: %w", method, err)
	}
	c.writeMu.Lock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = c.ws.SetWriteDeadline(deadline)
	err = c.ws.WriteMessage(websocket.TextMessage, req)
	c.writeMu.Unlock()
	if err != nil {
		forget()
		return fmt.Errorf("firefox: %s: %w", method, err)
	}

	select {
	case m, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return fmt.Errorf("firefox: %s: %w", method, err)
		}
		if m.Type == "error" {
			return &CommandError{Method: method, Code: m.Error, Message: m.Message}
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(m.Result, out); err != nil {
			return fmt.Errorf("firefox: %s: result %s: %w", method, truncate(m.Result), err)
		}
		return nil
	case <-ctx.Done():
		forget()
		return fmt.Errorf("firefox: %s: %w", method, ctx.Err())
	}
}

// close closes the WebSocket and waits for the reader to return.
func (c *conn) close() {
	_ = c.ws.Close()
	<-c.done
}

// truncate shortens a message for an error.
func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
