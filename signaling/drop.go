package signaling

// Dropping a client that cannot keep up. The queue is full when the
// writer cannot write as fast as events come, typically because it is
// stuck in a write to a client that does not read, for up to its write
// deadline. Whoever finds the queue full is often the SFU calling Send,
// under a room lock, so dropping must not wait for the writer: gorilla's
// WriteControl waits for the write lock the writer holds, and closing a
// TLS socket may write too. drop marks the connection and hands the
// close frame and the socket's close to a goroutine of its own, which
// serve waits for before it returns.

// drop disconnects the client without waiting for what is queued, with
// code and text in the close frame if the socket takes it within a
// second. It never blocks. Only its first call does anything.
func (c *conn) drop(code int, text string) {
	c.closing.Store(true)
	c.dropMu.Lock()
	start := !c.dropping && !c.served
	c.dropping = c.dropping || start
	c.dropMu.Unlock()
	if !start {
		return
	}
	close(c.dropped)
	go func() {
		defer close(c.dropDone)
		c.closeNow(code, text)
	}()
}

// isDropped reports whether drop was called: nothing more is queued.
func (c *conn) isDropped() bool {
	select {
	case <-c.dropped:
		return true
	default:
		return false
	}
}

// waitDrop waits for drop's goroutine, if one started, and keeps any
// from starting later. serve calls it once the writer has returned.
func (c *conn) waitDrop() {
	c.dropMu.Lock()
	c.served = true
	dropping := c.dropping
	c.dropMu.Unlock()
	if dropping {
		<-c.dropDone
	}
}
