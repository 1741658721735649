//go:build !linux

package network

import (
	"net/netip"

	"github.com/reachd/reachd/tap"
)

type devNS struct{}

func currentNS() devNS { return devNS{} }

func (devNS) close() {}

func (devNS) setAddr(dev string, old, new netip.Prefix) error { return tap.ErrUnsupported }

func (devNS) linkLocal(dev string) netip.Addr { return netip.Addr{} }

func hostRoutes() ([]Route, error) { return nil, nil }
