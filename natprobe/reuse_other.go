//go:build !unix

package natprobe

import "syscall"

// reuseControl is a no-op where SO_REUSEPORT does not exist: TCP mapping
// tests from one local port then get only the first server's answer.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
