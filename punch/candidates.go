package punch

import (
	"net/netip"
	"strconv"

	"github.com/reachd/reachd/address"
)

// Candidates lists the endpoints the direct strategy should dial to reach
// peer from local, best first, without duplicates:
//
//  1. For each peer interface on our LAN, its internal IP on its listen
//     port. An interface is on our LAN when its external IP is one of our
//     external IPs of that family (both behind the same NAT), or when
//     onLink (which may be nil) says its internal or external IP is on one
//     of our links. A shared machine ID is no evidence: containers and VMs
//     cloned from one image share one.
//  2. For each peer interface, its external IP on its listen port, except
//     interfaces whose NAT is blocked (nothing reaches them from outside;
//     a blocked interface on our LAN is still tried by its internal IP).
//
// Within each tier IPv4 comes before IPv6, and interfaces keep the peer's
// order. A family is used only when we have an interface of that family.
// An IPv6 link-local internal IP is dialled through each of our IPv6
// interfaces that is itself link-local, zoned by its interface index.
// Items with an invalid IP or port 0 are skipped. Candidates is pure but
// for onLink.
func Candidates(local, peer address.Address, onLink func(netip.Addr) bool) []netip.AddrPort {
	var lan, wan []netip.AddrPort
	for _, fam := range [2]struct{ ours, theirs []address.Interface }{
		{local.IPv4, peer.IPv4},
		{local.IPv6, peer.IPv6},
	} {
		if len(fam.ours) == 0 {
			continue
		}
		for _, p := range fam.theirs {
			if p.ListenPort == 0 {
				continue
			}
			if hasExternal(fam.ours, p.ExternalIP) || linked(onLink, p) {
				lan = append(lan, internalEndpoints(fam.ours, p)...)
			}
			if p.NAT != address.NATBlocked && usable(p.ExternalIP) {
				wan = append(wan, netip.AddrPortFrom(p.ExternalIP, p.ListenPort))
			}
		}
	}
	return dedupe(append(lan, wan...))
}

// linked reports whether onLink places one of p's routable IPs on one of
// our links (a link-local IP says nothing: every link has fe80::/64).
func linked(onLink func(netip.Addr) bool, p address.Interface) bool {
	if onLink == nil {
		return false
	}
	for _, ip := range []netip.Addr{p.InternalIP, p.ExternalIP} {
		if usable(ip) && !ip.IsLinkLocalUnicast() && onLink(ip) {
			return true
		}
	}
	return false
}

// hasExternal reports whether ip is a valid external IP of one of ours.
func hasExternal(ours []address.Interface, ip netip.Addr) bool {
	if !usable(ip) {
		return false
	}
	for _, o := range ours {
		if o.ExternalIP == ip {
			return true
		}
	}
	return false
}

// internalEndpoints is how to reach p's internal IP from our interfaces.
func internalEndpoints(ours []address.Interface, p address.Interface) []netip.AddrPort {
	ip := p.InternalIP
	if !usable(ip) {
		return nil
	}
	if !ip.Is6() || !ip.IsLinkLocalUnicast() {
		return []netip.AddrPort{netip.AddrPortFrom(ip, p.ListenPort)}
	}
	// A link-local address means nothing without the link it is on.
	var out []netip.AddrPort
	for _, o := range ours {
		if o.InternalIP.Is6() && o.InternalIP.IsLinkLocalUnicast() {
			zoned := ip.WithZone(strconv.Itoa(o.NetIfIndex))
			out = append(out, netip.AddrPortFrom(zoned, p.ListenPort))
		}
	}
	return out
}

func usable(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified()
}

func dedupe(in []netip.AddrPort) []netip.AddrPort {
	seen := make(map[netip.AddrPort]bool, len(in))
	out := in[:0]
	for _, ap := range in {
		if !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
