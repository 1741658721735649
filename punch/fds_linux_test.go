package punch_test

import (
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// socketsOn counts this process's sockets bound to one of ports: unlike
// the descriptor count, sockets of other tests that close late do not
// change it.
func socketsOn(t *testing.T, ports ...uint16) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list file descriptors: %v", err)
	}
	n := 0
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			continue // not a socket, or closed meanwhile
		}
		var port int
		switch a := sa.(type) {
		case *syscall.SockaddrInet4:
			port = a.Port
		case *syscall.SockaddrInet6:
			port = a.Port
		default:
			continue
		}
		if slices.Contains(ports, uint16(port)) {
			n++
		}
	}
	return n
}
