//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package punch

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReuseControl sets SO_REUSEADDR and SO_REUSEPORT on a socket before it is
// bound. Use it as net.Dialer.Control or net.ListenConfig.Control for every
// socket that shares a punching port: Punch's own dials and listener, and the
// node's STUN-over-TCP mapping probe from that port (see [Mapper]).
func ReuseControl(network, address string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		if opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); opErr != nil {
			opErr = fmt.Errorf("punch: set SO_REUSEADDR on %s: %w", address, opErr)
			return
		}
		if opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); opErr != nil {
			opErr = fmt.Errorf("punch: set SO_REUSEPORT on %s: %w", address, opErr)
		}
	})
	if err != nil {
		return fmt.Errorf("punch: socket control for %s: %w", address, err)
	}
	return opErr
}

// abortControl is ReuseControl plus SO_LINGER with a zero timeout, for
// Punch's dials: closing such a socket aborts it (a reset where the state
// calls for one) and frees its 4-tuple at once. A dial abandoned half way
// through a simultaneous open (SYN-RECV) would otherwise close with a FIN
// and linger in FIN-WAIT-1 while the FIN goes unanswered through the
// peer's NAT, and every later connect from the same port to the same peer
// would fail with EADDRNOTAVAIL. A dial that connects gets the default
// linger back before it is handed over (see restoreLinger).
func abortControl(network, address string, c syscall.RawConn) error {
	if err := ReuseControl(network, address, c); err != nil {
		return err
	}
	var opErr error
	err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
	if err != nil {
		return fmt.Errorf("punch: socket control for %s: %w", address, err)
	}
	if opErr != nil {
		return fmt.Errorf("punch: set SO_LINGER on %s: %w", address, opErr)
	}
	return nil
}

// lingerControl sets SO_LINGER with a zero timeout only: the birthday
// punch's hard-side sockets, each on a port of its own, are aborted when
// given up (see abortControl).
func lingerControl(network, address string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
	if err != nil {
		return fmt.Errorf("punch: socket control for %s: %w", address, err)
	}
	if opErr != nil {
		return fmt.Errorf("punch: set SO_LINGER on %s: %w", address, opErr)
	}
	return nil
}
