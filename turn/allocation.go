package turn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/reachd/reachd/internal/pionlog"
)

// rto is pion's first retransmission timeout. Pion retransmits requests even
// over TCP, where it only duplicates them; 1s (pion's default is 200ms) keeps
// duplicates off all but slow paths. A request fails after about 10s without
// an answer, or earlier when its ctx ends.
const rto = time.Second

// backlog is how many announced but not yet accepted peer connections are
// kept: the capacity of pion's connection attempt queue. More are dropped
// (the server closes them when they are not bound within 30s).
const backlog = 10

// pionAllocation is the part of pion's *client.TCPAllocation (an internal
// type) that Allocation uses.
type pionAllocation interface {
	Addr() net.Addr
	CreatePermissions(addrs ...net.Addr) error
	Close() error
}

// Allocation is a TCP allocation on a TURN server: a relayed transport
// address that peers connect to. Its methods are safe for concurrent use.
//
// The allocation lives as long as its control connection; pion refreshes it
// in the background (but not its permissions, see Permit). Close stops
// accepting; the allocation itself is released once it is closed and every
// connection Accept returned has been closed, because servers (pion's,
// coturn) close the relayed connections when their allocation goes away.
type Allocation struct {
	srv     Server
	log     *slog.Logger
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	ctrl    *writtenConn
	client  *turn.Client
	pa      pionAllocation
	relayed netip.AddrPort

	// acceptWithConn is pion's AcceptTCPWithConn: takes the next queued
	// connection attempt and binds conn to it.
	acceptWithConn func(conn net.Conn) (net.Conn, error)

	life     context.Context // cancelled by Close: no more Accept or Permit
	stopLife context.CancelFunc
	lost     chan struct{} // closed when the control connection failed
	lostErr  error         // why; written before lost is closed

	attempts chan struct{} // one token per attempt queued in pion

	mu       sync.Mutex
	closed   bool // Close was called
	released bool // the allocation was released
	pending  int  // attempts queued in pion (tokens + taken, not yet consumed)
	live     int  // accepted connections not yet closed
	wg       sync.WaitGroup
	relErr   error
}

// Allocate connects to the TURN server named by cfg.URL over TCP,
// authenticates with the long-term credential and takes a TCP allocation.
// ctx bounds connecting and the allocation request; it does not bound the
// allocation's life, which ends with Close.
//
// A refused credential yields an error matching ErrUnauthorized; other error
// responses are a *ServerError (442 when the server does not do TCP
// allocations).
func Allocate(ctx context.Context, cfg Config) (*Allocation, error) {
	srv, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "turn", "server", srv.Addr())
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}

	raw, err := dial(ctx, "tcp", srv.Addr())
	if err != nil {
		return nil, fmt.Errorf("turn: connect to %s: %w", srv.Addr(), err)
	}
	ctrl := newWrittenConn(raw)
	family := turn.RequestedAddressFamilyIPv4
	if cfg.IPv6 {
		family = turn.RequestedAddressFamilyIPv6
	}
	stunConn := turn.NewSTUNConn(ctrl)
	client, err := turn.NewClient(&turn.ClientConfig{
		// The address the control connection reached, so that data
		// connections go to the same server without resolving again.
		TURNServerAddr:         ctrl.RemoteAddr().String(),
		Conn:                   stunConn,
		Username:               srv.Username,
		Password:               srv.Password,
		RTO:                    rto,
		LoggerFactory:          pionlog.New(log),
		RequestedAddressFamily: family,
	})
	if err != nil {
		_ = ctrl.Close()
		return nil, fmt.Errorf("turn: client for %s: %w", srv.Addr(), err)
	}

	a := &Allocation{
		srv:      srv,
		log:      log,
		dial:     dial,
		ctrl:     ctrl,
		client:   client,
		lost:     make(chan struct{}),
		attempts: make(chan struct{}, backlog),
	}
	a.life, a.stopLife = context.WithCancel(context.Background())
	a.wg.Add(1)
	go a.readLoop(stunConn)

	pa, err := client.AllocateTCPWithContext(ctx)
	if err != nil {
		a.closed = true
		a.stopLife()
		_ = a.release()
		return nil, fmt.Errorf("turn: allocate on %s: %w", srv.Addr(), a.requestErr("allocate", ctx, err))
	}
	a.pa = pa
	a.acceptWithConn = func(conn net.Conn) (net.Conn, error) {
		c, err := pa.AcceptTCPWithConn(conn)
		if err != nil {
			return nil, err // not a nil *client.TCPConn in a non-nil net.Conn
		}
		return c, nil
	}
	relayed, ok := addrPort(pa.Addr())
	if !ok {
		_ = a.Close()
		return nil, fmt.Errorf("turn: allocate on %s: relayed address %v is not an IP address", srv.Addr(), pa.Addr())
	}
	a.relayed = relayed
	log.Info("turn allocation", "relayed", relayed, "local", ctrl.LocalAddr())
	return a, nil
}

// RelayedAddr returns the relayed transport address: the server's address
// that peers dial to reach Accept.
func (a *Allocation) RelayedAddr() netip.AddrPort { return a.relayed }

// Server returns the server the allocation is on.
func (a *Allocation) Server() Server { return a.srv }

// Permit installs a permission (CreatePermission) for each IP address, so
// that a peer connecting from it to the relayed address is announced to
// Accept; connections from other addresses are closed by the server. The
// port does not matter. The addresses must have the relayed address's family.
//
// A permission lasts 300 seconds on the server and is not refreshed (pion
// refreshes only permissions it created for its own Dial); call Permit again
// to extend it. It only governs new connections: an accepted connection does
// not need it.
func (a *Allocation) Permit(ctx context.Context, ips ...netip.Addr) error {
	return a.permit(ctx, nil, ips)
}

// PermitSent is Permit that also calls sent once the CreatePermission
// request is written to the server, before its answer: a peer told to
// connect from then on reaches the server after the request, unless its
// way (signaling, then its own connection) is shorter than ours to the
// server. sent is not called when the request could not be written.
func (a *Allocation) PermitSent(ctx context.Context, sent func(), ips ...netip.Addr) error {
	return a.permit(ctx, sent, ips)
}

func (a *Allocation) permit(ctx context.Context, sent func(), ips []netip.Addr) error {
	if len(ips) == 0 {
		return errors.New("turn: permit: no addresses")
	}
	addrs := make([]net.Addr, 0, len(ips))
	for _, ip := range ips {
		ip = ip.Unmap()
		switch {
		case !ip.IsValid():
			return errors.New("turn: permit: invalid address")
		case ip.Is4() != a.relayed.Addr().Is4():
			return fmt.Errorf("turn: permit %s: address family differs from the relayed address %s", ip, a.relayed)
		}
		addrs = append(addrs, &net.TCPAddr{IP: ip.AsSlice()})
	}

	// pion's CreatePermissions takes no context: run it on a goroutine that
	// the allocation owns (release waits for it; closing the client ends
	// its transaction) and stop waiting when ctx ends.
	done := make(chan error, 1)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	a.wg.Add(1)
	a.mu.Unlock()
	finished := make(chan struct{})
	watched := make(chan struct{}) // the watcher is done: sent was called, or will not be
	if sent == nil {
		close(watched)
	} else {
		_, written := a.ctrl.mark()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(watched)
			select {
			case <-written:
				sent()
			case <-finished:
			case <-a.life.Done():
			}
		}()
	}
	go func() {
		defer a.wg.Done()
		defer close(finished)
		var err error
		for range 3 {
			// On 438 Stale Nonce pion stores the new nonce and returns an
			// unexported "try again" error.
			if err = a.pa.CreatePermissions(addrs...); err == nil || err.Error() != "try again" {
				break
			}
		}
		done <- err
	}()

	select {
	case err := <-done:
		<-watched // sent, if at all, before we return
		if err != nil {
			return fmt.Errorf("turn: permit %v: %w", ips, a.requestErr("permit", ctx, err))
		}
		a.log.Debug("turn permission", "peers", ips)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("turn: permit %v: %w", ips, ctx.Err())
	case <-a.life.Done():
		return fmt.Errorf("turn: permit %v: %w", ips, ErrClosed)
	case <-a.lost:
		return fmt.Errorf("turn: permit %v: %w", ips, a.lostErr)
	}
}

// Close stops the allocation accepting: pending and later Accept and Permit
// calls return ErrClosed. Like a net.Listener's Close it leaves accepted
// connections alone: the allocation is released (Refresh with lifetime 0,
// control connection closed, background goroutines ended) now if none is
// open, otherwise when the last one is closed. Close is idempotent.
func (a *Allocation) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.stopLife()
	open := a.live
	a.mu.Unlock()
	if open > 0 {
		a.log.Debug("turn allocation closed; released when its connections close", "open", open)
		return nil
	}
	return a.release()
}

// release deletes the allocation and waits for the goroutines it owns. It
// runs once, after Close, when no accepted connection is open.
func (a *Allocation) release() error {
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		return a.relErr
	}
	a.released = true
	a.mu.Unlock()

	var err error
	if a.pa != nil {
		// Stops pion's refresh timers and sends Refresh with lifetime 0
		// without waiting for the answer. Closing the control connection
		// releases the allocation too (pion and coturn do).
		if cerr := a.pa.Close(); cerr != nil && !isClosed(a.lost) {
			err = fmt.Errorf("turn: release allocation %s: %w", a.relayed, cerr)
		}
	}
	a.client.Close() // fails transactions still waiting
	if cerr := a.ctrl.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = fmt.Errorf("turn: close control connection: %w", cerr)
	}
	a.wg.Wait()
	a.log.Debug("turn allocation released", "relayed", a.relayed)
	a.mu.Lock()
	a.relErr = err
	a.mu.Unlock()
	return err
}

// readLoop reads the control connection and hands every message to pion. It
// counts connection attempts for Accept. When the connection fails it marks
// the allocation lost.
func (a *Allocation) readLoop(conn *turn.STUNConn) {
	defer a.wg.Done()
	buf := make([]byte, 20+65535) // the largest STUN message
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			a.mu.Lock()
			expected := a.released
			a.mu.Unlock()
			if expected {
				a.lostErr = ErrClosed
			} else {
				a.log.Warn("turn control connection lost", "err", err)
				a.lostErr = fmt.Errorf("%w: %w", ErrControlLost, err)
			}
			close(a.lost)
			// Fail waiting transactions now rather than after pion's
			// retransmissions run out.
			_ = a.ctrl.Close()
			a.client.Close()
			return
		}
		msg := buf[:n]
		attempt := isConnectionAttempt(msg)
		if attempt {
			a.mu.Lock()
			full := a.pending >= backlog
			if !full {
				a.pending++
			}
			a.mu.Unlock()
			if full {
				a.log.Warn("turn connection attempt dropped: backlog full", "backlog", backlog)
				continue
			}
		}
		if _, err := a.client.HandleInbound(msg, from); err != nil {
			a.log.Debug("turn control message ignored", "err", err)
			if attempt {
				a.mu.Lock()
				a.pending--
				a.mu.Unlock()
			}
			continue
		}
		if attempt {
			a.attempts <- struct{}{} // never blocks: tokens <= pending <= backlog
		}
	}
}

// isConnectionAttempt reports whether msg is a ConnectionAttempt indication
// with the attributes pion needs to queue it.
func isConnectionAttempt(msg []byte) bool {
	if !stun.IsMessage(msg) {
		return false
	}
	m := &stun.Message{Raw: append([]byte(nil), msg...)}
	if err := m.Decode(); err != nil {
		return false
	}
	return m.Type == stun.NewType(stun.MethodConnectionAttempt, stun.ClassIndication) &&
		m.Contains(stun.AttrXORPeerAddress) && m.Contains(stun.AttrConnectionID)
}

// requestErr turns a failed pion request into the error Allocate and Permit
// return: a *ServerError for an error response, the control connection's
// failure, or ctx's error.
func (a *Allocation) requestErr(op string, ctx context.Context, err error) error {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return newServerError(op, te.ErrorCodeAttr.Code, string(te.ErrorCodeAttr.Reason))
	}
	select {
	case <-a.lost:
		return a.lostErr
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func addrPort(addr net.Addr) (netip.AddrPort, bool) {
	switch v := addr.(type) {
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
	}
	return netip.AddrPort{}, false
}

var _ io.Closer = (*Allocation)(nil)
