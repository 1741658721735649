//go:build !unix

package natprobe

import "syscall"

// reuseControl is a no-op where SO_REUSEPORT does not exist. TCP mapping
// tests share one local port and so fail there: TCP results stay unknown,
// with the bind errors under Servers.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
