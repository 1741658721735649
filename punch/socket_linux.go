package punch

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// TCP states as Linux numbers them (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpSynRecv     = 3
)

// attemptSocket watches the socket of one dial while its connect is
// pending, through a duplicate of its descriptor (the dialer's own may be
// closed at any time). The duplicate keeps the socket open: close it once
// the dial has returned, and the socket is closed (aborted) then.
type attemptSocket struct {
	mu    sync.Mutex
	fd    int // the duplicate, when open
	valid bool
}

// watch duplicates c's descriptor; it is called from the dialer's Control.
// Without a duplicate, heardPeer says false: the dial keeps the plain
// timeout.
func (s *attemptSocket) watch(c syscall.RawConn) {
	c.Control(func(fd uintptr) {
		dup, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.fd, s.valid = dup, true
		s.mu.Unlock()
	})
}

// heardPeer reports whether the peer's SYN or SYN-ACK has reached the
// socket: it is in SYN-RECV (a simultaneous open under way) or already
// established.
func (s *attemptSocket) heardPeer() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid {
		return false
	}
	info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	return err == nil && (info.State == tcpSynRecv || info.State == tcpEstablished)
}

// close closes the duplicate.
func (s *attemptSocket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.valid {
		unix.Close(s.fd)
		s.valid = false
	}
}
