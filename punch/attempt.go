package punch

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"
)

type dialResult struct {
	conn net.Conn
	err  error
}

// attempt makes one dial from the punching port to the peer. It returns
// the dial's outcome, or a connection accepted meanwhile (the dial is then
// given up and its connection, if any, closed).
//
// How long a dial lives decides whether a long path can be punched. Our
// SYN's answer (the peer's SYN-ACK, or its own SYN crossing ours) comes
// about a round trip after the SYN left, later by the clock error between
// the peers and the path's jitter, so a dial lives AttemptTimeout, sized
// to 1.5 round trips (see Config.RTT). Once the peer's SYN has reached
// the dial's socket (SYN-RECV: half a simultaneous open, our SYN-ACK on
// its way), the handshake is under way and cutting it short would throw
// it away, so the dial gets one more AttemptTimeout: the first packets
// between two hosts can be slow (a cold ARP or radio link, a queue). A
// dial that never heard from the peer is given up after AttemptTimeout:
// its SYN may have been lost or reached the peer's NAT before the peer's
// own SYN opened it, and a fresh dial sends a new SYN at once, refreshing
// the mapping and keeping in step with the peer's grid, where the
// kernel's retransmission would wait 1s, then 3s, 7s. Every dial's socket
// is aborted, not closed, when given up (abortControl), so that it never
// holds the 4-tuple the next dial needs; a pending dial does hold it, so
// dials from the one port cannot overlap.
func (p *puncher) attempt(ctx context.Context, accepted <-chan net.Conn) (dialResult, net.Conn) {
	var sock attemptSocket
	defer sock.close() // after the dial is done with its own descriptor
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(p.cfg.LocalAddr),
		Control: func(network, address string, c syscall.RawConn) error {
			if err := abortControl(network, address, c); err != nil {
				return err
			}
			sock.watch(c)
			return nil
		},
	}
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	results := make(chan dialResult, 1)
	go func() {
		c, err := d.DialContext(actx, p.network, p.cfg.Remote.String())
		if err == nil {
			if err = restoreLinger(c); err != nil {
				c = nil
			}
		}
		results <- dialResult{c, err}
	}()

	began := time.Now()
	timer := time.NewTimer(p.cfg.AttemptTimeout)
	defer timer.Stop()
	kept := false
	for {
		select {
		case r := <-results:
			return r, nil
		case c := <-accepted:
			acancel()
			if r := <-results; r.err == nil {
				r.conn.Close()
			}
			return dialResult{}, c
		case <-ctx.Done():
			acancel()
			return <-results, nil // a connect that just made it is still good
		case <-timer.C:
			if !kept && sock.heardPeer() {
				kept = true
				p.log.Debug("punch dial kept: the peer's SYN arrived", "attempt", p.dials)
				timer.Reset(p.cfg.AttemptTimeout)
				continue
			}
			acancel()
			r := <-results
			if r.err != nil {
				r.err = fmt.Errorf("punch: dial given up after %v: %w", time.Since(began).Round(time.Millisecond), r.err)
			}
			return r, nil
		}
	}
}

// restoreLinger gives a connected dial the default close behaviour back
// (a FIN after the data sent), undoing abortControl; on failure it closes c.
func restoreLinger(c net.Conn) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	if err := tc.SetLinger(-1); err != nil {
		tc.Close()
		return fmt.Errorf("punch: restore SO_LINGER: %w", err)
	}
	return nil
}
