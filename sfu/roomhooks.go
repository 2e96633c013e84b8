package sfu

import "sync"

// Room hooks (Options.RoomOpened and Options.RoomClosed) are called in
// the order the rooms were opened and removed, one call at a time and
// with no lock of this package held.
//
// The order is fixed where it happens: a room is put in SFU.rooms and
// taken out of it under SFU.mu, and the event is queued under that same
// lock, so the queue is in the order the map changed. A room removed and
// opened again under the same name at once therefore queues "closed"
// before the new room's "opened".
//
// The calls are made after SFU.mu is released, by whichever goroutine
// finds nobody else delivering (usually the one that queued the event,
// in Join or a participant's Close): it takes events off the queue, one at
// a time, until the queue is empty. Only one goroutine delivers at a time,
// so the calls never overlap and never overtake each other, and no
// goroutine waits for another to deliver, so a hook may call Join (its
// room's event is then delivered after the hook returns).

// roomEvent is a room opened or closed, for the hooks.
type roomEvent struct {
	name string
	open bool
}

// roomHooks queues room events and delivers them in order.
type roomHooks struct {
	opened, closed func(name string)

	mu         sync.Mutex // guards the fields below; a leaf: nothing is called or locked under it
	queue      []roomEvent
	delivering bool       // a goroutine is calling the hooks
	quiet      *sync.Cond // broadcast when delivering ends with the queue empty
}

func newRoomHooks(opened, closed func(string)) *roomHooks {
	h := &roomHooks{opened: opened, closed: closed}
	h.quiet = sync.NewCond(&h.mu)
	return h
}

// enabled reports whether there is a hook to call.
func (h *roomHooks) enabled() bool { return h.opened != nil || h.closed != nil }

// add queues an event. The caller holds SFU.mu, which orders the events,
// and calls deliver once it has released it.
func (h *roomHooks) add(name string, open bool) {
	if !h.enabled() {
		return
	}
	h.mu.Lock()
	h.queue = append(h.queue, roomEvent{name: name, open: open})
	h.mu.Unlock()
}

// deliver calls the hooks for the queued events, unless another goroutine
// is doing so already, in which case that one delivers them. The caller
// holds no lock. It reports whether it emptied the queue.
func (h *roomHooks) deliver() bool {
	if !h.enabled() {
		return false
	}
	h.mu.Lock()
	if h.delivering || len(h.queue) == 0 {
		h.mu.Unlock()
		return false
	}
	h.delivering = true
	for len(h.queue) > 0 {
		ev := h.queue[0]
		h.queue[0] = roomEvent{}
		h.queue = h.queue[1:]
		h.mu.Unlock()
		h.call(ev)
		h.mu.Lock()
	}
	h.queue = nil // drop the drained array rather than keep it growing at its end
	h.delivering = false
	h.quiet.Broadcast()
	h.mu.Unlock()
	return true
}

// call runs one event's hook.
func (h *roomHooks) call(ev roomEvent) {
	fn := h.closed
	if ev.open {
		fn = h.opened
	}
	if fn != nil {
		fn(ev.name)
	}
}

// idle reports whether every queued event has been delivered and no hook
// is running. The caller may hold SFU.mu.
func (h *roomHooks) idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.delivering && len(h.queue) == 0
}

// wait returns once every event queued so far has been delivered. It must
// not be called from a hook.
func (h *roomHooks) wait() {
	h.mu.Lock()
	for h.delivering || len(h.queue) > 0 {
		if !h.delivering {
			// Queued, and whoever queued it has not yet delivered: do it.
			h.mu.Unlock()
			h.deliver()
			h.mu.Lock()
			continue
		}
		h.quiet.Wait()
	}
	h.mu.Unlock()
}
