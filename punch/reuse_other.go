//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package punch

import (
	"fmt"
	"runtime"
	"syscall"
)

// ReuseControl would set SO_REUSEADDR and SO_REUSEPORT; this system has no
// SO_REUSEPORT, so it refuses and punching is unavailable.
func ReuseControl(network, address string, c syscall.RawConn) error {
	return fmt.Errorf("punch: SO_REUSEPORT is not supported on %s: %w", runtime.GOOS, ErrUnsupported)
}

// abortControl refuses like ReuseControl.
func abortControl(network, address string, c syscall.RawConn) error {
	return ReuseControl(network, address, c)
}

// lingerControl refuses like ReuseControl.
func lingerControl(network, address string, c syscall.RawConn) error {
	return ReuseControl(network, address, c)
}
