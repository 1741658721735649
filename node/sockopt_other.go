//go:build !linux

package node

import (
	"net"
	"time"
)

// setUserTimeout is Linux only; elsewhere keepalive alone finds dead peers.
func setUserTimeout(*net.TCPConn, time.Duration) {}
