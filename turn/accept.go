package turn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pion/transport/v5"
)

// Accept waits until a permitted peer connects to the relayed address, opens
// a data connection to the server, binds it to the peer's connection
// (ConnectionBind) and returns it: from then on a plain byte stream to the
// peer. It returns when ctx ends (ctx's error), when the allocation is closed
// (ErrClosed) or when the control connection fails (ErrControlLost).
//
// The connection's RemoteAddr is the peer's address as the server saw it,
// its LocalAddr the relayed address; it also has CloseWrite and CloseRead.
// It stays usable after the Allocation's Close until it is closed itself.
// Servers do not relay a half-close: CloseWrite on either end makes the
// server close the relayed connection both ways (pion's server with FIN,
// coturn with RST), so protocols on top must not rely on it.
//
// A peer connection announced by the server waits for an Accept (up to 10 of
// them; the server closes one not bound within 30 seconds). When the
// data connection cannot be opened the announcement stays queued for the next
// Accept; when binding fails it is consumed and Accept returns the error.
// Binding authenticates with the server's latest nonce as seen on the control
// connection, and pion does not retry it on 438 Stale Nonce: if the
// allocation idled longer than the server's nonce lifetime (pion: 1 hour,
// coturn with stale-nonce: 10 minutes by default), call Permit, which renews
// the nonce, before the peer connects.
func (a *Allocation) Accept(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.life, cancel)()

	// The data connection is opened while the announcement is awaited, so
	// that binding takes one round trip after it, not two (RFC 6062 asks
	// only that the ConnectionBind come on a new connection).
	server := a.client.TURNServerAddr().String()
	type dialed struct {
		c   net.Conn
		err error
	}
	dialDone := make(chan dialed, 1)
	go func() {
		c, err := a.dial(ctx, "tcp", server)
		dialDone <- dialed{c, err}
	}()
	spare := func() {
		if d := <-dialDone; d.c != nil {
			_ = d.c.Close()
		}
	}

	select {
	case <-a.attempts:
	case <-ctx.Done():
		cancel()
		spare()
		return nil, a.acceptErr(ctx, ctx.Err())
	case <-a.lost:
		cancel()
		spare()
		return nil, fmt.Errorf("turn: accept: %w", a.lostErr)
	}
	if a.life.Err() != nil {
		// The token may announce an attempt pion dropped after Close.
		cancel()
		spare()
		return nil, fmt.Errorf("turn: accept: %w", ErrClosed)
	}

	d := <-dialDone
	conn, err := d.c, d.err
	if err != nil {
		a.attempts <- struct{}{} // still queued in pion: leave it to the next Accept
		return nil, a.acceptErr(ctx, fmt.Errorf("connect to %s: %w", server, err))
	}
	tc, ok := conn.(transport.TCPConn)
	if !ok {
		_ = conn.Close()
		a.attempts <- struct{}{}
		return nil, fmt.Errorf("turn: accept: Config.Dial returned a %T, not a TCP connection", conn)
	}

	// pion's bind does blocking reads and writes without a deadline: end
	// them when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Unix(1, 0)) })
	pc, err := a.acceptWithConn(bindConn{tc}) // takes the queued attempt, whatever happens next
	a.mu.Lock()
	a.pending--
	a.mu.Unlock()
	if !stop() && err == nil {
		err = ctx.Err() // bound, but the deadline may already be set
	}
	if err != nil {
		_ = conn.Close()
		return nil, a.acceptErr(ctx, fmt.Errorf("bind: %w", err))
	}

	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = conn.Close()
		return nil, fmt.Errorf("turn: accept: %w", ErrClosed)
	}
	a.live++
	a.mu.Unlock()
	c := &relayConn{TCPConn: tc, local: pc.LocalAddr(), remote: pc.RemoteAddr(), a: a}
	a.log.Info("turn peer connected", "peer", c.remote, "relayed", a.relayed)
	return c, nil
}

// acceptErr explains why Accept failed: closed, control connection lost,
// ctx ended, or err.
func (a *Allocation) acceptErr(ctx context.Context, err error) error {
	switch {
	case a.life.Err() != nil:
		err = ErrClosed
	case isClosed(a.lost):
		err = a.lostErr
	case ctx.Err() != nil:
		err = ctx.Err()
	}
	return fmt.Errorf("turn: accept: %w", err)
}

// connClosed is called once per accepted connection when it is closed.
func (a *Allocation) connClosed() {
	a.mu.Lock()
	a.live--
	last := a.closed && a.live == 0
	a.mu.Unlock()
	if last {
		if err := a.release(); err != nil {
			a.log.Debug("turn release", "err", err)
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// relayConn is an accepted connection: the bound data connection, with the
// relayed address as LocalAddr and the peer's as RemoteAddr. Closing the last
// one of a closed Allocation releases the allocation.
type relayConn struct {
	transport.TCPConn
	local, remote net.Addr
	a             *Allocation
	once          sync.Once
}

func (c *relayConn) LocalAddr() net.Addr  { return c.local }
func (c *relayConn) RemoteAddr() net.Addr { return c.remote }

func (c *relayConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.a.connClosed)
	return err
}

// bindConn is the data connection while pion binds it. pion reads the
// ConnectionBind response with one Read for the 20-byte header and one for
// the body, and fails on a short read, which TCP is free to return; bindConn's
// Read fills p. pion never asks for more than the response, so no peer data
// is consumed. Once bound, the connection is used without this wrapper.
type bindConn struct{ transport.TCPConn }

func (c bindConn) Read(p []byte) (int, error) {
	n, err := io.ReadFull(c.TCPConn, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

var (
	_ transport.TCPConn = (*relayConn)(nil)
	_ transport.TCPConn = bindConn{}
)
