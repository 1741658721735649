//go:build !linux

package network

import (
	"net/netip"

	"github.com/reachd/reachd/tap"
)

func setAddr(dev string, old, new netip.Prefix) error { return tap.ErrUnsupported }
