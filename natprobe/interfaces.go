package natprobe

import (
	"fmt"
	"net"
	"net/netip"
)

// LocalAddr is one local address to probe from.
type LocalAddr struct {
	Name  string     // interface name, e.g. "eth0"
	Index int        // OS interface index
	IP    netip.Addr // IPv6 link-local addresses carry the interface as zone
}

// SystemInterfaces lists the usable local addresses: for every interface
// that is up and not a loopback, its first IPv4 address (a link-local one
// only if it has no other) and its best IPv6 address (global, else
// unique-local, else link-local).
func SystemInterfaces() ([]LocalAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("natprobe: list interfaces: %w", err)
	}
	var out []LocalAddr
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue // the interface went away
		}
		var ips []netip.Addr
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
					ips = append(ips, ip.Unmap())
				}
			}
		}
		out = append(out, pickAddrs(ifi.Name, ifi.Index, ips)...)
	}
	return out, nil
}

// pickAddrs chooses at most one IPv4 and one IPv6 address of an interface,
// as SystemInterfaces documents.
func pickAddrs(name string, index int, ips []netip.Addr) []LocalAddr {
	rank := func(ip netip.Addr) int { // higher is better; 0 is unusable
		switch {
		case ip.IsLoopback() || ip.IsMulticast() || ip.IsUnspecified():
			return 0
		case ip.IsLinkLocalUnicast():
			return 1
		case ip.Is6() && ip.IsPrivate():
			return 2
		}
		return 3
	}
	var best4, best6 netip.Addr
	for _, ip := range ips {
		r := rank(ip)
		if r == 0 {
			continue
		}
		best := &best6
		if ip.Is4() {
			best = &best4
		}
		if !best.IsValid() || r > rank(*best) {
			*best = ip
		}
	}
	var out []LocalAddr
	if best4.IsValid() {
		out = append(out, LocalAddr{Name: name, Index: index, IP: best4})
	}
	if best6.IsValid() {
		if best6.IsLinkLocalUnicast() {
			best6 = best6.WithZone(name)
		}
		out = append(out, LocalAddr{Name: name, Index: index, IP: best6})
	}
	return out
}
