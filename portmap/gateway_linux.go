package portmap

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// SystemGateway is the IPv4 default route's gateway and the local address
// the kernel would use to reach it; ErrNoGateway without one.
func SystemGateway() (Gateway, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return Gateway{}, fmt.Errorf("portmap: list routes: %w", err)
	}
	var best *netlink.Route
	for i, r := range routes {
		if r.Gw == nil || (r.Dst != nil && !isDefault(r.Dst)) || r.Table != 0 && r.Table != 254 {
			continue
		}
		if best == nil || r.Priority < best.Priority {
			best = &routes[i]
		}
	}
	if best == nil {
		return Gateway{}, ErrNoGateway
	}
	gw, ok := netip.AddrFromSlice(best.Gw.To4())
	if !ok {
		return Gateway{}, ErrNoGateway
	}
	got, err := netlink.RouteGet(best.Gw)
	if err != nil || len(got) == 0 || got[0].Src == nil {
		return Gateway{}, fmt.Errorf("portmap: source address towards %s: %v", gw, err)
	}
	local, _ := netip.AddrFromSlice(got[0].Src.To4())
	return Gateway{IP: gw, Local: local}, nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}
