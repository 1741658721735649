package rendezvous

import (
	"io"
	"sync"
)

// tracker owns a set of goroutines and the connections they serve. The
// third-party servers embedded here (mochi, pion) neither close the client
// connections they accepted nor wait for their per-connection goroutines when
// they are closed; the listeners we hand them record both in a tracker, so that
// Close can close every connection and wait for the goroutines we started.
type tracker struct {
	mu     sync.Mutex
	closed bool
	conns  map[io.Closer]struct{}
	wg     sync.WaitGroup
}

// enter registers a running goroutine; it reports false once the tracker is
// closed, in which case the caller must not start (or must return at once).
// Every successful enter is paired with one leave.
func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) leave() { t.wg.Done() }

// goFunc runs fn in a tracked goroutine; it reports false, without running fn,
// once the tracker is closed.
func (t *tracker) goFunc(fn func()) bool {
	if !t.enter() {
		return false
	}
	go func() {
		defer t.leave()
		fn()
	}()
	return true
}

// add records c so that shutdown closes it. Once the tracker is closed, add
// closes c itself and reports false.
func (t *tracker) add(c io.Closer) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = c.Close()
		return false
	}
	if t.conns == nil {
		t.conns = make(map[io.Closer]struct{})
	}
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	return true
}

// remove forgets c (the caller closes it).
func (t *tracker) remove(c io.Closer) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// shutdown refuses new goroutines and connections and closes the recorded
// connections. It does not wait; see wait.
func (t *tracker) shutdown() {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// wait blocks until every entered goroutine has left.
func (t *tracker) wait() { t.wg.Wait() }
