package service

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/reachd/reachd/session"
)

// maxDatagram bounds a UDP datagram (and so a frame of a UDP flow).
const maxDatagram = 65535

// copyBuffer is the size of a pipe's copy buffers: larger than io.Copy's
// 32 KiB, so that a stream's frames and the TCP writes are large.
const copyBuffer = 256 << 10

// onlyReader hides a reader's WriteTo, so io.CopyBuffer uses its buffer.
type onlyReader struct{ io.Reader }

// counters count a forward's use.
type counters struct {
	conns, active, failures atomic.Int64
	sent, received          atomic.Uint64
}

// countWriter counts what is written through it.
type countWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if c.n != nil {
		c.n.Add(uint64(n))
	}
	return n, err
}

// pipe copies between a local connection and a stream until both
// directions are done. A clean end of one direction is passed on as a
// half-close (CloseWrite); a failure of either side ends both: the stream
// is aborted, and a local TCP connection is reset (SO_LINGER 0) so the
// program on it sees the failure, not a clean end. ctx's end is a
// failure. ctr, if not nil, counts the bytes.
func pipe(ctx context.Context, c net.Conn, s *session.Stream, ctr *counters) {
	var once sync.Once
	fail := func(reason string) {
		once.Do(func() {
			s.Abort(reason)
			reset(c)
		})
	}
	stop := context.AfterFunc(ctx, func() { fail("closing") })
	defer stop()
	var sent, received *atomic.Uint64
	if ctr != nil {
		sent, received = &ctr.sent, &ctr.received
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // local -> peer
		defer wg.Done()
		_, err := io.CopyBuffer(countWriter{s, sent}, onlyReader{c}, make([]byte, copyBuffer))
		if err != nil {
			fail("local connection failed")
			return
		}
		s.CloseWrite()
	}()
	_, err := io.CopyBuffer(countWriter{c, received}, onlyReader{s}, make([]byte, copyBuffer))
	var ae *session.AbortError
	switch {
	case errors.As(err, &ae):
		fail(ae.Reason)
	case err != nil:
		fail("local connection failed")
	default:
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	wg.Wait()
	s.Close()
	c.Close()
}

// reset closes c; a TCP connection with a reset (SO_LINGER 0), so that
// its program reads an error instead of a clean end.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
