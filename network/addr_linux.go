//go:build linux

package network

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// setAddr replaces address old on device dev with new (an automatic
// address that moved after a clash).
func setAddr(dev string, old, new netip.Prefix) error {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("network: find %s: %w", dev, err)
	}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(new)}); err != nil {
		return fmt.Errorf("network: add %v to %s: %w", new, dev, err)
	}
	if err := netlink.AddrDel(link, &netlink.Addr{IPNet: ipNet(old)}); err != nil {
		return fmt.Errorf("network: remove %v from %s: %w", old, dev, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
