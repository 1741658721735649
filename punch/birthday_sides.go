package punch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// hard is the hard side: SYNs to the easy side's endpoint from fresh
// sockets, paced over Spread from start, all held pending until the
// punch ends; it keeps the connection on which the easy side writes
// pickByte.
//
// When the easy side's NAT resets our SYNs (it has no mapping for them
// yet, and each reset takes one of ours away), the first pass stops at
// the first reset and the rest of the budget goes into a second pass
// after the easy side's probes have opened its NAT (from second): a SYN
// whose random port a probe went to then gets through to the easy side's
// listener.
func (b *birthday) hard(ctx context.Context, start, second time.Time) (net.Conn, error) {
	dctx, cancelDials := context.WithCancel(ctx)
	defer cancelDials()
	established := make(chan net.Conn, b.cfg.SYNs) // never blocks a dial
	picked := make(chan net.Conn, 1)
	socks := newSockets(b.cfg.Sockets)
	d := b.dialer()
	remote := b.cfg.Remote.String()
	var dials, readers sync.WaitGroup
	var lastErr errBox
	var resets atomic.Int32
	open := &connSet{}

	stop := make(chan struct{})
	pacer := make(chan struct{})
	send := func(int) {
		dials.Go(func() {
			c, err := d.DialContext(dctx, b.network, remote)
			if err != nil {
				if refused(err) {
					resets.Add(1)
				}
				socks.release()
				lastErr.set(err)
				return
			}
			established <- c
		})
	}
	go func() {
		defer close(pacer)
		b.paced(dctx, start, b.cfg.SYNs, stop, func() bool { return resets.Load() == 0 && socks.acquire() }, send)
		if resets.Load() == 0 {
			return
		}
		b.log.Debug("birthday: the easy side's NAT resets; second pass after its probes", "sent", b.sent)
		if left := b.cfg.SYNs - b.sent; left > 0 {
			b.paced(dctx, second, left, stop, socks.acquire, send)
		}
	}()

	var winner net.Conn
wait:
	for {
		select {
		case c := <-established:
			// One of our mappings was hit: wait for the easy side to say
			// whether this is the connection it keeps.
			open.add(c)
			readers.Go(func() {
				if deadline, ok := ctx.Deadline(); ok {
					c.SetReadDeadline(deadline)
				}
				var one [1]byte
				if _, err := c.Read(one[:]); err == nil && one[0] == pickByte {
					select {
					case picked <- c:
						return
					default:
					}
				}
			})
		case winner = <-picked:
			break wait
		case <-ctx.Done():
			break wait
		}
	}

	close(stop)
	socks.stop()
	cancelDials()
	<-pacer
	dials.Wait()
	open.unblock(winner)
	readers.Wait()
	if winner == nil {
		select {
		case winner = <-picked:
		default:
		}
	}
	close(established)
	for c := range established {
		open.add(c)
	}
	open.abortAll(winner)
	b.log.Debug("birthday: hard side done", "sent", b.sent, "resets", resets.Load(), "won", winner != nil)
	if winner == nil {
		return nil, b.closed(lastErr.get())
	}
	winner.SetReadDeadline(time.Time{})
	if err := restoreLinger(winner); err != nil {
		return nil, err
	}
	return winner, nil
}

// easy is the easy side: probes from LocalAddr to random ports of the
// peer's IP, paced over Spread from start, each pending until the punch
// ends (or refused); plus a listener on LocalAddr. It keeps the first
// connection it gets and writes pickByte on it.
//
// A probe stays pending because a hard-side SYN that comes after it (the
// hard side's second pass, see hard) completes only with the probe's own
// socket: our NAT tracks the probe's sequence numbers, and a SYN-ACK from
// the listener, with a sequence of its own, would be dropped as invalid.
func (b *birthday) easy(ctx context.Context, start time.Time) (net.Conn, error) {
	lc := net.ListenConfig{Control: ReuseControl}
	ln, err := lc.Listen(ctx, b.network, b.cfg.LocalAddr.String())
	if err != nil {
		return nil, fmt.Errorf("punch: birthday: listen on %s: %w", b.cfg.LocalAddr, err)
	}
	dctx, cancelDials := context.WithCancel(ctx)
	defer cancelDials()
	established := make(chan net.Conn, b.cfg.SYNs+1) // never blocks a dial or the acceptor
	socks := newSockets(max(1, b.cfg.Sockets-1))     // the listener holds one
	d := b.dialer()
	peer := b.cfg.Remote.Addr()
	ports := b.cfg.Ports(b.cfg.SYNs)
	var dials sync.WaitGroup
	var lastErr errBox

	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if ta, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ta.AddrPort().Addr().Unmap() != peer.Unmap() {
				abort(c)
				continue
			}
			select {
			case established <- c:
			default:
				abort(c)
			}
		}
	}()

	stop := make(chan struct{})
	pacer := make(chan struct{})
	go func() {
		defer close(pacer)
		b.paced(dctx, start, min(len(ports), b.cfg.SYNs), stop, socks.acquire, func(k int) {
			target := netip.AddrPortFrom(peer, ports[k]).String()
			dials.Go(func() {
				defer socks.release()
				c, err := d.DialContext(dctx, b.network, target)
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) && !refused(err) {
						lastErr.set(err)
					}
					return
				}
				established <- c
			})
		})
	}()

	var winner net.Conn
	var rejected []net.Conn
wait:
	for {
		select {
		case c := <-established:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write([]byte{pickByte}); err != nil {
				lastErr.set(err)
				rejected = append(rejected, c)
				continue
			}
			c.SetWriteDeadline(time.Time{})
			winner = c
			break wait
		case <-ctx.Done():
			break wait
		}
	}

	close(stop)
	socks.stop()
	cancelDials()
	<-pacer
	dials.Wait()
	ln.Close()
	<-accepting
	close(established)
	for c := range established {
		rejected = append(rejected, c)
	}
	for _, c := range rejected {
		abort(c)
	}
	if winner == nil {
		return nil, b.closed(lastErr.get())
	}
	if err := restoreLinger(winner); err != nil {
		return nil, err
	}
	return winner, nil
}

func (b *birthday) closed(last error) error {
	if last == nil {
		return fmt.Errorf("%w: birthday %s -> %s: no hit in %d syns", ErrWindowClosed, b.cfg.LocalAddr, b.cfg.Remote, b.sent)
	}
	return fmt.Errorf("%w: birthday %s -> %s: no hit in %d syns, last: %w", ErrWindowClosed, b.cfg.LocalAddr, b.cfg.Remote, b.sent, last)
}

// errBox keeps the last error goroutines report.
type errBox struct {
	mu  sync.Mutex
	err error
}

func (e *errBox) set(err error) {
	e.mu.Lock()
	e.err = err
	e.mu.Unlock()
}

func (e *errBox) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// connSet is the hard side's connections that a probe made.
type connSet struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

// unblock ends the reads on every connection but keep.
func (s *connSet) unblock(keep net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c != keep {
			c.SetReadDeadline(time.Now())
		}
	}
}

// abortAll aborts every connection but keep.
func (s *connSet) abortAll(keep net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c != keep {
			abort(c)
		}
	}
	s.conns = nil
}
