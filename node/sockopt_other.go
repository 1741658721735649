//go:build !linux

package node

import (
	"net"
	"time"
)

// setUserTimeout is Linux only; elsewhere keepalive alone finds dead peers.
func setUserTimeout(*net.TCPConn, time.Duration) {}

// tcpRTT is Linux only.
func tcpRTT(net.Conn) (time.Duration, bool) { return 0, false }
