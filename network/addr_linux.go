//go:build linux

package network

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// devNS is the network namespace a device was created in: later changes
// to it may run on any thread.
type devNS struct{ h netns.NsHandle }

// currentNS returns the calling thread's namespace (the caller's thread
// is where tap.New creates the device).
func currentNS() devNS {
	h, err := netns.Get()
	if err != nil {
		return devNS{h: -1}
	}
	return devNS{h: h}
}

func (ns devNS) close() {
	if ns.h >= 0 {
		ns.h.Close()
	}
}

// setAddr replaces address old on device dev with new (an automatic
// address that moved after a clash).
func (ns devNS) setAddr(dev string, old, new netip.Prefix) error {
	h, err := netlink.NewHandleAt(ns.h)
	if ns.h < 0 {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return fmt.Errorf("network: netlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("network: find %s: %w", dev, err)
	}
	// Old first: deleting a primary address deletes the secondaries of
	// its subnet with it (unless promote_secondaries is set).
	if err := h.AddrDel(link, &netlink.Addr{IPNet: ipNet(old)}); err != nil {
		return fmt.Errorf("network: remove %v from %s: %w", old, dev, err)
	}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(new)}); err != nil {
		return fmt.Errorf("network: add %v to %s: %w", new, dev, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// linkLocal returns the IPv6 link-local address of device dev; invalid
// when it has none (yet: duplicate address detection may still run).
func (ns devNS) linkLocal(dev string) netip.Addr {
	h, err := netlink.NewHandleAt(ns.h)
	if ns.h < 0 {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return netip.Addr{}
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return netip.Addr{}
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	return netip.Addr{}
}

// hostRoutes lists the IPv4 routes of the main table in the calling
// thread's namespace (default routes left out).
func hostRoutes() ([]Route, error) {
	rs, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("network: list routes: %w", err)
	}
	names := map[int]string{}
	var out []Route
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		p, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			continue
		}
		bits, _ := r.Dst.Mask.Size()
		if _, ok := names[r.LinkIndex]; !ok && r.LinkIndex > 0 {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				names[r.LinkIndex] = l.Attrs().Name
			}
		}
		out = append(out, Route{Prefix: netip.PrefixFrom(p.Unmap(), bits), Dev: names[r.LinkIndex]})
	}
	return out, nil
}
