package session

import (
	"time"
)

// deadline is one direction's deadline: a timer that marks it passed.
type deadline struct {
	timer  *time.Timer
	gen    uint64
	passed bool
}

// set arms d for t; fire runs (with s.mu held) when it passes. s.mu is
// held.
func (d *deadline) set(s *Stream, t time.Time, fire func()) {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.passed = false
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.passed = true
		fire()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		s.mu.Lock()
		if d.gen == gen {
			d.passed = true
			fire()
		}
		s.mu.Unlock()
	})
}

// SetReadDeadline makes a Read waiting at t or later fail with
// os.ErrDeadlineExceeded (the stream stays usable); zero means none.
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rdl.set(s, t, func() { s.rcond.Broadcast() })
	return nil
}

// SetWriteDeadline makes a Write waiting at t or later (for window or
// buffer space) return what it wrote and os.ErrDeadlineExceeded; zero
// means none.
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wexp.Store(false)
	s.wdl.set(s, t, func() {
		s.wexp.Store(true)
		s.wcond.Broadcast()
		go s.wakeSenders() // takes the link's lock; not under s.mu
	})
	return nil
}

// SetDeadline sets both deadlines.
func (s *Stream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}
