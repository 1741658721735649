package session

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Stream is one byte stream over a link (the API's connection). Its
// reads and writes are safe to call from different goroutines; several
// concurrent writers are serialised whole.
//
// The ends of a stream: CloseWrite is a clean end of our direction (the
// peer reads io.EOF and may still send); Abort ends both directions with a
// reason (the peer's reads and writes fail with an *AbortError); Close
// ends our direction cleanly and stops reading (what the peer still sends
// is dropped). A stream whose link fails ends with an *AbortError wrapping
// the link's error, after the data already received has been read.
type Stream struct {
	l       *Link
	id      uint32
	hdr     Header
	inbound bool
	window  int64 // Config.StreamWindow

	wmu  sync.Mutex // one writer at a time
	rmu  sync.Mutex // one frame reader at a time
	stop atomic.Bool

	mu       sync.Mutex
	rcond    sync.Cond
	wcond    sync.Cond
	rq       recvQueue
	wait     []byte // a blocked Read's buffer: the link's reader fills it directly
	waitN    int
	recvWin  int64 // bytes the peer may still send
	consumed int64 // bytes read since the last window update
	reserved int64 // what the stream holds of Config.RecvBudget
	sendWin  int64 // bytes we may still send
	finIn    bool  // the peer ended its direction
	finOut   bool  // we ended ours
	stopped  bool  // the peer closed: it no longer reads what we send
	closed   bool  // Close was called
	err      error // the abort, local or remote; fails reads and writes
	linkErr  error // the link failed: reads drain first

	rdl, wdl deadline
	wexp     atomic.Bool // the write deadline passed (read without s.mu by sendData)

	written, read atomic.Int64
}

// StreamStats is a snapshot of a stream.
type StreamStats struct {
	// Written counts bytes accepted by Write (and WriteFrame, prefixes
	// excluded); Read counts bytes returned by Read.
	Written, Read int64
	// ReadEnded: the peer ended its direction cleanly (all of it may not
	// have been read yet); WriteEnded: we did.
	ReadEnded, WriteEnded bool
	// Closed: Close was called on this side. PeerClosed: on the peer's
	// side (it no longer reads; our writes fail with ErrPeerStopped).
	Closed, PeerClosed bool
	// Buffered counts bytes received and not yet read.
	Buffered int
	// Err is the abort or link failure that ended the stream, if any.
	Err error
}

// Stats returns a snapshot of the stream.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	if err == nil {
		err = s.linkErr
	}
	return StreamStats{Written: s.written.Load(), Read: s.read.Load(), ReadEnded: s.finIn, WriteEnded: s.finOut,
		Closed: s.closed, PeerClosed: s.stopped, Buffered: s.rq.n, Err: err}
}

// changed tells Config.OnStreamChange that an end of s changed; no lock
// is held.
func (s *Stream) changed() {
	if f := s.l.cfg.OnStreamChange; f != nil {
		f(s)
	}
}

// WaitRead waits until a Read would return at once (with bytes, the end
// of the stream or an error), or ctx ends (its error). It holds no buffer
// while it waits.
func (s *Stream) WaitRead(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readable() {
		return nil
	}
	defer s.wakeReaderWhenDone(ctx)()
	for !s.readable() {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.rcond.Wait()
	}
	return nil
}

// readable reports whether a Read returns at once; s.mu is held.
func (s *Stream) readable() bool {
	return s.rq.n > 0 || s.finIn || s.err != nil || s.linkErr != nil || s.closed || s.rdl.passed
}

// wakeReaderWhenDone wakes a reader waiting on s.rcond when ctx ends,
// until the returned func is called.
func (s *Stream) wakeReaderWhenDone(ctx context.Context) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.rcond.Broadcast()
		s.mu.Unlock()
	})
}

func newStream(l *Link, id uint32, h Header) *Stream {
	s := &Stream{l: l, id: id, hdr: h, window: int64(l.cfg.StreamWindow), recvWin: initialWindow, sendWin: initialWindow, reserved: initialWindow}
	s.rcond.L = &s.mu
	s.wcond.L = &s.mu
	return s
}

// grantExtra gives the peer the part of our window above the initial one
// (less when the receive budget is filling).
func (s *Stream) grantExtra() {
	s.mu.Lock()
	inc, wake := s.regrant()
	s.mu.Unlock()
	s.sendWindow(inc, wake)
}

// regrant grants the peer window up to the stream's target, within the
// receive budget, from what was read; s.mu is held. It returns the
// increment to send and the streams to retry (see Budget.grant).
func (s *Stream) regrant() (int64, []*Stream) {
	if s.finIn || s.linkErr != nil || s.closed || s.err != nil {
		return 0, nil
	}
	inc, wake := s.l.cfg.RecvBudget.grant(s, s.window, s.recvWin+int64(s.rq.n), s.consumed)
	s.reserved += inc - s.consumed
	s.recvWin += inc
	s.consumed = 0
	return inc, wake
}

// sendWindow sends a window increment (when positive) and retries the
// streams that waited for budget; no lock is held.
func (s *Stream) sendWindow(inc int64, wake []*Stream) {
	if inc > 0 {
		s.l.sendCtrl(frameWindow, s.id, binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(inc)))
	}
	retry(wake)
}

func retry(streams []*Stream) {
	for _, w := range streams {
		w.mu.Lock()
		var inc int64
		var wake []*Stream
		if w.recvWin+int64(w.rq.n) == 0 {
			inc, wake = w.regrant()
		}
		w.mu.Unlock()
		w.sendWindow(inc, wake)
	}
}

// settle gives back what the stream reserves and no longer needs: all of
// it once closed or aborted, all but the unread bytes once nothing more
// can come. s.mu is held; the caller passes the result to free.
func (s *Stream) settle() int64 {
	var need int64
	switch {
	case s.closed || s.err != nil:
	case s.finIn || s.linkErr != nil:
		need = int64(s.rq.n)
	default:
		return 0
	}
	n := s.reserved - need
	if n <= 0 {
		return 0
	}
	s.reserved = need
	return n
}

// free returns n bytes to the receive budget; no lock is held.
func (s *Stream) free(n int64) {
	if n > 0 {
		retry(s.l.cfg.RecvBudget.give(n))
	}
}

// Discard drops what a stream that ended for reading (the peer's clean
// end, or its link's failure) received and was not read, freeing it at
// once; reads then return the end. It does nothing to a stream that may
// still receive.
func (s *Stream) Discard() {
	s.mu.Lock()
	if s.finIn || s.linkErr != nil {
		s.rq.reset()
	}
	n := s.settle()
	s.rcond.Broadcast()
	s.mu.Unlock()
	s.free(n)
}

// ID returns the stream's ID on its link.
func (s *Stream) ID() uint32 { return s.id }

// Header returns what the stream was opened with.
func (s *Stream) Header() Header { return s.hdr }

// Link returns the stream's link.
func (s *Stream) Link() *Link { return s.l }

// Read reads what the peer sent. It returns io.EOF after the peer's clean
// end and an *AbortError after an abort.
func (s *Stream) Read(p []byte) (int, error) { return s.ReadContext(context.Background(), p) }

// ReadContext is Read that also returns, with ctx's error, when ctx ends
// before anything arrived. A blocked read is filled directly by the link.
func (s *Stream) ReadContext(ctx context.Context, p []byte) (int, error) {
	s.mu.Lock()
	if !s.readable() && len(p) > 0 {
		if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			return 0, err
		}
		defer s.wakeReaderWhenDone(ctx)()
		s.wait, s.waitN = p, 0
		for s.waitN == 0 && !s.readable() && ctx.Err() == nil {
			s.rcond.Wait()
		}
		n := s.waitN
		s.wait, s.waitN = nil, 0
		if n > 0 && s.err == nil && !s.closed {
			return s.consume(n)
		}
	}
	switch {
	case s.err != nil:
		s.mu.Unlock()
		return 0, s.err
	case s.closed:
		s.mu.Unlock()
		return 0, ErrClosed
	case s.rq.n > 0:
		return s.consume(s.rq.read(p))
	case s.finIn:
		s.mu.Unlock()
		return 0, io.EOF
	case s.linkErr != nil:
		err := s.linkErr
		s.mu.Unlock()
		return 0, err
	case s.rdl.passed:
		s.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	case ctx.Err() != nil:
		s.mu.Unlock()
		return 0, ctx.Err()
	}
	s.mu.Unlock()
	return 0, nil
}

// consume accounts for n bytes read, unlocks s.mu, and grants the peer
// more window once a quarter of what the stream reserves was read.
func (s *Stream) consume(n int) (int, error) {
	s.read.Add(int64(n))
	s.consumed += int64(n)
	var inc int64
	var wake []*Stream
	if s.consumed >= (s.recvWin+int64(s.rq.n)+s.consumed)/4 {
		inc, wake = s.regrant()
	}
	freed := s.settle()
	s.mu.Unlock()
	s.sendWindow(inc, wake)
	s.free(freed)
	return n, nil
}

// Write writes p, waiting as long as the peer's window or the link's send
// buffer is full (back-pressure, not an error). It fails only when the
// stream or its link ended.
func (s *Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.write(nil, p)
}

// write sends prefix and p; prefix (at most a few bytes) goes with p's
// first frame. The count excludes prefix.
func (s *Stream) write(prefix, p []byte) (int, error) {
	total := 0
	for len(p) > 0 || len(prefix) > 0 {
		s.mu.Lock()
		for s.sendWin <= int64(len(prefix)) && s.err == nil && s.linkErr == nil && !s.finOut && !s.stopped && !s.wdl.passed {
			s.wcond.Wait()
		}
		if err := s.writeErr(); err != nil {
			s.mu.Unlock()
			return total, err
		}
		if s.wdl.passed {
			s.mu.Unlock()
			return total, os.ErrDeadlineExceeded
		}
		n := min(len(p), int(s.sendWin)-len(prefix), MaxPayload-len(prefix))
		s.sendWin -= int64(n + len(prefix))
		s.mu.Unlock()
		if err := s.l.sendData(s, prefix, p[:n]); err != nil {
			// Give back the window we did not use.
			s.mu.Lock()
			s.sendWin += int64(n + len(prefix))
			s.mu.Unlock()
			return total, err
		}
		prefix = nil
		total += n
		s.written.Add(int64(n))
		p = p[n:]
	}
	return total, nil
}

// writeErr says why a write cannot go on; s.mu is held.
func (s *Stream) writeErr() error {
	switch {
	case s.err != nil:
		return s.err
	case s.linkErr != nil:
		return s.linkErr
	case s.closed:
		return ErrClosed
	case s.finOut:
		return ErrWriteClosed
	case s.stopped:
		return ErrPeerStopped
	}
	return nil
}

// failure returns the error a write fails with once the stream or link
// ended (linkErr when given and nothing else).
func (s *Stream) failure(linkErr error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeErr(); err != nil {
		return err
	}
	if linkErr != nil {
		return &AbortError{Reason: linkErr.Error(), Err: linkErr}
	}
	return ErrClosed
}

// CloseWrite ends our direction cleanly: the peer reads io.EOF once it has
// read everything before. It waits for writes in progress.
func (s *Stream) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.err != nil || s.linkErr != nil {
		s.mu.Unlock()
		return s.writeErr()
	}
	if s.finOut {
		s.mu.Unlock()
		return nil
	}
	s.finOut = true
	done := s.finIn || s.closed
	s.wcond.Broadcast()
	s.mu.Unlock()
	err := s.l.sendCtrl(frameFin, s.id, nil)
	if done {
		s.l.removeStream(s)
	}
	s.changed()
	return err
}

// Close ends our direction cleanly (as CloseWrite, without waiting for a
// blocked writer, which fails) and stops reading: data received and still
// to come is dropped, and the peer's writes fail with ErrPeerStopped (its
// reads still get all we sent).
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed || s.err != nil {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.stop.Store(true)
	dropped := int64(s.rq.n) + s.consumed
	s.rq.reset()
	s.consumed = 0
	finIn := s.finIn
	if finIn || s.linkErr != nil {
		dropped = 0
	}
	s.recvWin += dropped
	freed := s.settle()
	s.rcond.Broadcast()
	s.wcond.Broadcast()
	s.mu.Unlock()
	s.free(freed)
	s.wakeSenders()
	if dropped > 0 {
		s.l.sendCtrl(frameWindow, s.id, binary.BigEndian.AppendUint32(nil, uint32(dropped)))
	}
	s.wmu.Lock()
	s.mu.Lock()
	fin := !s.finOut && s.err == nil && s.linkErr == nil
	s.finOut = true
	s.mu.Unlock()
	s.wmu.Unlock()
	if fin {
		s.l.sendCtrl(frameFin, s.id, nil)
	}
	if !finIn {
		s.l.sendCtrl(frameStop, s.id, nil)
	}
	if finIn {
		s.l.removeStream(s)
	}
	s.changed()
	return nil
}

// Abort ends the stream in both directions with reason: the peer's reads
// and writes fail with an *AbortError carrying it, as do ours.
func (s *Stream) Abort(reason string) error {
	reason = cutReason(reason)
	if !s.abort(&AbortError{Reason: reason}) {
		return nil
	}
	s.l.sendCtrl(frameAbort, s.id, []byte(reason))
	return nil
}

// abort records err as the stream's end; false when it had ended already.
func (s *Stream) abort(err *AbortError) bool {
	s.mu.Lock()
	if s.err != nil || s.linkErr != nil || (s.finIn && s.finOut) {
		var freed int64
		if s.linkErr != nil {
			// Its link failed: nothing more comes, and whoever aborts it
			// will not read it; what it holds goes back to the budget.
			s.rq.reset()
			freed = s.settle()
		}
		s.mu.Unlock()
		s.free(freed)
		return false
	}
	s.err = err
	s.stop.Store(true)
	s.rq.reset()
	freed := s.settle()
	s.rcond.Broadcast()
	s.wcond.Broadcast()
	s.mu.Unlock()
	s.free(freed)
	s.wakeSenders()
	s.l.removeStream(s)
	s.changed()
	return true
}

// wakeSenders wakes writers waiting for link buffer space, so a stopped
// stream's writer returns.
func (s *Stream) wakeSenders() {
	s.l.mu.Lock()
	s.l.space.Broadcast()
	s.l.mu.Unlock()
}

func (s *Stream) linkFailed(err error) {
	s.mu.Lock()
	if s.linkErr == nil {
		s.linkErr = &AbortError{Reason: err.Error(), Err: err}
	}
	s.stop.Store(true)
	freed := s.settle()
	s.rcond.Broadcast()
	s.wcond.Broadcast()
	s.mu.Unlock()
	s.free(freed)
	s.changed()
}

// The link's reader delivers the peer's frames with these; they never
// block.

func (s *Stream) deliver(p []byte) error {
	s.mu.Lock()
	if int64(len(p)) > s.recvWin {
		s.mu.Unlock()
		return fmt.Errorf("stream %d: %d bytes beyond a window of %d", s.id, len(p), s.recvWin)
	}
	if s.closed || s.err != nil {
		s.mu.Unlock()
		return s.l.sendCtrl(frameWindow, s.id, binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(len(p))))
	}
	s.recvWin -= int64(len(p))
	if s.wait != nil && s.rq.n == 0 {
		c := copy(s.wait[s.waitN:], p)
		s.waitN += c
		p = p[c:]
	}
	if len(p) > 0 {
		s.rq.push(p)
	}
	s.rcond.Broadcast()
	s.mu.Unlock()
	return nil
}

func (s *Stream) addWindow(n uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 0 || s.sendWin+int64(n) > 1<<31 {
		return fmt.Errorf("stream %d: window update of %d to %d", s.id, n, s.sendWin)
	}
	s.sendWin += int64(n)
	s.wcond.Broadcast()
	return nil
}

func (s *Stream) peerFin() error {
	s.mu.Lock()
	if s.finIn {
		s.mu.Unlock()
		return fmt.Errorf("stream %d: a second fin", s.id)
	}
	s.finIn = true
	done := s.finOut || s.closed
	freed := s.settle()
	s.rcond.Broadcast()
	s.mu.Unlock()
	s.free(freed)
	if done {
		s.l.removeStream(s)
	}
	s.changed()
	return nil
}

func (s *Stream) peerStop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.stop.Store(true)
	s.wcond.Broadcast()
	s.mu.Unlock()
	s.wakeSenders()
	s.changed()
}

func (s *Stream) peerAbort(reason string) {
	s.abort(&AbortError{Reason: reason, Remote: true})
}
