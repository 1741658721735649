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
