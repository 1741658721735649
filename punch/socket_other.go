//go:build !linux

package punch

import "syscall"

// attemptSocket would watch a dial's socket; only Linux tells a socket's
// TCP state, so elsewhere a dial keeps its plain timeout.
type attemptSocket struct{}

func (*attemptSocket) watch(syscall.RawConn) {}
func (*attemptSocket) heardPeer() bool       { return false }
func (*attemptSocket) close()                {}
