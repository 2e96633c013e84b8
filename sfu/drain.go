package sfu

// Draining: a node that is to stop takes no new participants and lets the
// ones it has finish, so that it can exit once empty (or, its caller
// decides, at a deadline, by closing).

// Drain stops the SFU from taking participants: from now on Join returns
// ErrDraining. The participants already joined carry on until they leave.
// Drain is idempotent and cannot be undone.
func (s *SFU) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.checkIdle()
}

// Idle returns a channel that is closed once the SFU is draining or
// closed and no participant is left: every participant Join returned has
// been closed, its Close has returned, and the room hooks have been
// called for every room removed.
func (s *SFU) Idle() <-chan struct{} { return s.idle }

// admit counts a participant about to be created by Join, unless the SFU
// is closed or draining. Every admitted participant is released once:
// by Join if it is not created, else at the end of its Close.
func (s *SFU) admit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.draining:
		return ErrDraining
	}
	s.live++
	return nil
}

// release uncounts an admitted participant.
func (s *SFU) release() {
	s.mu.Lock()
	s.live--
	s.mu.Unlock()
	s.checkIdle()
}

// checkIdle closes idle if the SFU has become idle. The caller holds no
// lock.
func (s *SFU) checkIdle() {
	s.mu.Lock()
	now := !s.idleSet && (s.draining || s.closed) && s.live == 0 && s.hooks.idle()
	if now {
		s.idleSet = true
	}
	s.mu.Unlock()
	if now {
		close(s.idle)
	}
}
