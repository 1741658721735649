package main

import (
	"io"
	"sync"
)

// msgQueue hands the peer's messages from the WebSocket reader to the
// output writer, so the reader is back in Read while the output is slow.
// Up to limit bytes wait before push blocks (flow control), until
// unbound: from then on push never blocks, because the WebSocket's close
// handshake discards the messages nobody is reading.
type msgQueue struct {
	mu        sync.Mutex
	cond      sync.Cond
	msgs      [][]byte
	size      int
	limit     int
	unbounded bool
	end       error // set once no more messages come; io.EOF if no error
	aborted   bool  // the writer stopped: drop what comes
}

func newMsgQueue(limit int) *msgQueue {
	q := &msgQueue{limit: limit}
	q.cond.L = &q.mu
	return q
}

// push adds a message, waiting while the queue is full and bounded.
func (q *msgQueue) push(b []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.size >= q.limit && !q.unbounded && !q.aborted {
		q.cond.Wait()
	}
	if q.aborted {
		return
	}
	q.msgs = append(q.msgs, b)
	q.size += len(b)
	q.cond.Broadcast()
}

// unbound makes push never wait again.
func (q *msgQueue) unbound() {
	q.mu.Lock()
	q.unbounded = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// close says no more messages come, and why (nil: io.EOF).
func (q *msgQueue) close(err error) {
	if err == nil {
		err = io.EOF
	}
	q.mu.Lock()
	q.end = err
	q.cond.Broadcast()
	q.mu.Unlock()
}

// abort drops waiting and future messages and wakes a waiting push.
func (q *msgQueue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.msgs, q.size = nil, 0
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pop returns the next message, or the error given to close once all are
// taken.
func (q *msgQueue) pop() ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.msgs) == 0 && q.end == nil {
		q.cond.Wait()
	}
	if len(q.msgs) == 0 {
		return nil, q.end
	}
	b := q.msgs[0]
	q.msgs[0] = nil
	q.msgs = q.msgs[1:]
	q.size -= len(b)
	q.cond.Broadcast()
	return b, nil
}

// writeTo writes the messages to w until the queue ends, returning the
// error given to close, or w's error (after which it aborts the queue).
func (q *msgQueue) writeTo(w io.Writer) error {
	for {
		b, err := q.pop()
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			q.abort()
			return &outputError{err}
		}
	}
}

// outputError is a failure to write the output.
type outputError struct{ err error }

func (e *outputError) Error() string { return "write output: " + e.err.Error() }
func (e *outputError) Unwrap() error { return e.err }
