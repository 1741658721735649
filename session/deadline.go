package session

import (
	"time"
)

// deadline is one direction's deadline. Its timer is made once and reset
// for each new deadline, so that setting one allocates nothing (the API's
// WebSocket sets one per message).
type deadline struct {
	timer  *time.Timer
	at     time.Time // zero: none
	passed bool
}

// set arms d, which is s.rdl or s.wdl, for t; zero means none. s.mu is
// held.
func (d *deadline) set(s *Stream, t time.Time) {
	d.at, d.passed = t, false
	if d.timer != nil {
		d.timer.Stop()
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		s.deadlinePassed(d)
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			// A firing of an earlier arming that lost the race with a
			// new set finds the new deadline still ahead.
			if !d.at.IsZero() && !d.passed && !time.Now().Before(d.at) {
				s.deadlinePassed(d)
			}
		})
		return
	}
	d.timer.Reset(wait)
}

// deadlinePassed marks d passed and wakes whoever waits on it. s.mu is
// held.
func (s *Stream) deadlinePassed(d *deadline) {
	d.passed = true
	if d == &s.rdl {
		s.rcond.Broadcast()
		return
	}
	s.wexp.Store(true)
	s.wcond.Broadcast()
	go s.wakeSenders() // takes the link's lock; not under s.mu
}

// SetReadDeadline makes a Read waiting at t or later fail with
// os.ErrDeadlineExceeded (the stream stays usable); zero means none.
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rdl.set(s, t)
	return nil
}

// SetWriteDeadline makes a Write waiting at t or later (for window or
// buffer space) return what it wrote and os.ErrDeadlineExceeded; zero
// means none.
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wexp.Store(false)
	s.wdl.set(s, t)
	return nil
}

// SetDeadline sets both deadlines.
func (s *Stream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}
