package strategy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
)

// What a node dials for a peer. A peer's request names where to dial (its
// address for a dial-back, an endpoint for a punch, a relayed address), and
// a stranger with a fresh key can send one, so a responder dials only:
//
//   - the external IPs of the peer's own signed address;
//   - its internal IPs when they are on one of our links (a real shared
//     LAN, not the peer's say-so);
//   - for a relay, an address on one of our configured TURN servers;
//
// and never a loopback, unspecified, multicast or link-local target,
// unless our own address is on loopback only (a node for tests and demos
// on one machine, which only this machine can reach).

// ErrForbiddenTarget is wrapped by a responder's error when a peer asks
// for a dial the rules above forbid. Nothing is dialled.
var ErrForbiddenTarget = errors.New("target not allowed")

// localOnly reports whether every external IP of self is loopback.
func localOnly(self address.Address) bool {
	n := 0
	for _, it := range append(slices.Clip(self.IPv4), self.IPv6...) {
		if !it.ExternalIP.IsLoopback() && !it.ExternalIP.IsLinkLocalUnicast() {
			return false
		}
		if it.ExternalIP.IsLoopback() {
			n++
		}
	}
	return n > 0
}

// special reports whether ip is a target no remote request may name.
func special(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// checkTarget refuses a special target unless we are local only.
func checkTarget(self address.Address, ip netip.Addr) error {
	if special(ip) && !localOnly(self) {
		return fmt.Errorf("%w: %s", ErrForbiddenTarget, ip)
	}
	return nil
}

// CheckLearned applies the rules above to an address learned from a peer
// (its answer to an address request on resume or upgrade, a network
// member's announce, a name or pairing answer), before anything dials it.
// It returns peer with each interface cut to what may be dialled:
//
//   - an external IP that is special (loopback, unspecified, multicast,
//     link-local) is kept only when self is local only;
//   - an internal IP is kept only when onLink places it on one of our links
//     (and it is not special), or when it equals a kept external IP.
//
// An interface keeps its fields' shape: a refused internal IP is replaced
// by the external one and the other way round, so the result still
// validates and dialling it reaches only allowed IPs; an interface with
// neither IP allowed is dropped. When no interface is left, the error
// wraps [ErrForbiddenTarget]. A nil onLink puts nothing on our links.
//
// CheckLearned does not check that peer.NodeID is the peer the caller
// asked: that is the caller's to compare.
func CheckLearned(self, peer address.Address, onLink func(netip.Addr) bool) (address.Address, error) {
	out := peer
	out.IPv4 = learnedInterfaces(self, peer.IPv4, onLink)
	out.IPv6 = learnedInterfaces(self, peer.IPv6, onLink)
	if len(out.IPv4)+len(out.IPv6) == 0 {
		return address.Address{}, fmt.Errorf("%w: no address of %s may be dialled", ErrForbiddenTarget, peer.NodeID)
	}
	return out, nil
}

// learnedInterfaces is CheckLearned for one IP family.
func learnedInterfaces(self address.Address, in []address.Interface, onLink func(netip.Addr) bool) []address.Interface {
	var out []address.Interface
	for _, it := range in {
		extOK := it.ExternalIP.IsValid() && checkTarget(self, it.ExternalIP) == nil
		intOK := it.InternalIP.IsValid() && checkTarget(self, it.InternalIP) == nil &&
			((extOK && it.InternalIP == it.ExternalIP) || (onLink != nil && onLink(it.InternalIP.WithZone(""))))
		switch {
		case extOK && intOK:
		case extOK:
			it.InternalIP = it.ExternalIP
		case intOK:
			it.ExternalIP = it.InternalIP
		default:
			continue
		}
		out = append(out, it)
	}
	return out
}

// peerTargets are the endpoints a dial-back or punch may use for peer:
// its external IPs, and its internal ones that are on one of our links,
// each on port (its listen port when port is 0).
func peerTargets(env Env, self, peer address.Address) []netip.AddrPort {
	var out []netip.AddrPort
	for _, cand := range punch.Candidates(self, peer, env.OnLink) {
		ip := cand.Addr().WithZone("")
		if checkTarget(self, ip) != nil {
			continue
		}
		if !isExternal(peer, ip) && !env.OnLink(ip) {
			continue
		}
		out = append(out, cand)
	}
	return out
}

// isExternal reports whether ip is one of a's external IPs.
func isExternal(a address.Address, ip netip.Addr) bool {
	for _, it := range append(slices.Clip(a.IPv4), a.IPv6...) {
		if it.ExternalIP == ip.Unmap() || it.ExternalIP == ip {
			return true
		}
	}
	return false
}

// turnIPs resolves the hosts of the configured TURN servers.
func turnIPs(ctx context.Context, urls []string) []netip.Addr {
	var out []netip.Addr
	for _, u := range urls {
		parsed, err := url.Parse(u)
		if err != nil {
			continue
		}
		host := parsed.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil {
			out = append(out, ip.Unmap())
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			out = append(out, ip.Unmap())
		}
	}
	return out
}
