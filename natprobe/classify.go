package natprobe

import (
	"fmt"
	"net/netip"

	"github.com/reachd/reachd/address"
)

// This file holds the pure classification rules: observations in, verdicts
// out. Probing (sockets, timeouts) lives elsewhere.

// Observation is one mapping test: the mapped address a server saw for our
// local socket when we sent to Server.
type Observation struct {
	Server netip.AddrPort `json:"server"`
	Mapped netip.AddrPort `json:"mapped"`
}

// Binding is one port-delta sample: a local port and the external port the
// NAT mapped it to.
type Binding struct {
	Local  uint16 `json:"local_port"`
	Mapped uint16 `json:"mapped_port"`
}

// ClassifyMapping derives the mapping behaviour from observations made from
// one local socket (RFC 5780 section 4.3): the same mapping towards every
// server address is endpoint-independent; different mappings towards two
// ports of one IP are address-and-port-dependent; otherwise (mappings differ
// only between IPs) address-dependent. With fewer than two distinct server
// addresses there is nothing to compare and the result is BehaviorUnknown.
func ClassifyMapping(obs []Observation) Behavior {
	servers := make(map[netip.AddrPort]netip.AddrPort, len(obs))
	for _, o := range obs {
		servers[o.Server] = o.Mapped
	}
	if len(servers) < 2 {
		return BehaviorUnknown
	}
	allSame := true
	for _, o := range obs {
		if o.Mapped != obs[0].Mapped {
			allSame = false
		}
	}
	if allSame {
		return BehaviorEndpointIndependent
	}
	for s1, m1 := range servers {
		for s2, m2 := range servers {
			if s1.Addr() == s2.Addr() && s1.Port() != s2.Port() && m1 != m2 {
				return BehaviorAddressPortDependent
			}
		}
	}
	return BehaviorAddressDependent
}

// ClassifyUDP names the NAT type in front of a UDP socket that got answers.
// mappedIsLocal tells whether the mapped address equals the local one (no
// translation). Without a NAT, endpoint-independent or untested filtering is
// open and any other filtering is a symmetric UDP firewall. Behind an
// endpoint-independent mapping the filtering picks full, restricted or
// port-restricted cone; an untested or unknown filtering counts as
// port-restricted (the safe assumption for hole punching). Any other
// mapping is symmetric; an unknown mapping leaves the type unknown.
func ClassifyUDP(mappedIsLocal bool, mapping, filtering Behavior) address.NATType {
	if mappedIsLocal {
		switch filtering {
		case BehaviorAddressDependent, BehaviorAddressPortDependent:
			return address.NATSymmetricUDPFirewall
		default:
			return address.NATOpen
		}
	}
	switch mapping {
	case BehaviorEndpointIndependent:
		switch filtering {
		case BehaviorEndpointIndependent:
			return address.NATFullCone
		case BehaviorAddressDependent:
			return address.NATRestrictedCone
		default:
			return address.NATPortRestrictedCone
		}
	case BehaviorAddressDependent, BehaviorAddressPortDependent:
		return address.NATSymmetric
	}
	return address.NATUnknown
}

// ClassifyTCP names the NAT type in front of a TCP socket that got answers.
// Filtering cannot be tested over TCP (an unsolicited SYN from elsewhere
// proves nothing about connection tracking), so an endpoint-independent
// mapping is reported as port-restricted cone.
func ClassifyTCP(mappedIsLocal bool, mapping Behavior) address.NATType {
	switch {
	case mappedIsLocal:
		return address.NATOpen
	case mapping == BehaviorEndpointIndependent:
		return address.NATPortRestrictedCone
	case mapping == BehaviorAddressDependent || mapping == BehaviorAddressPortDependent:
		return address.NATSymmetric
	}
	return address.NATUnknown
}

// ClassifyDelta derives how a NAT picks external ports from samples taken in
// order, from consecutive local ports and from random local ports. The first
// rule that holds wins:
//
//   - equal: every mapped port equals its local port;
//   - preserving: within each sample set, mapped distances equal local
//     distances (value 0);
//   - independent: from random local ports, each mapped port is the previous
//     one plus a constant c (the consecutive set, if any, agrees) (value c);
//   - dependent: only from consecutive local ports, mapped = previous + c
//     (value c);
//   - random otherwise.
//
// Distances are taken modulo 2^16, so wrapping past 65535 is fine. Unless
// all ports are equal, a set needs two samples to say anything; with
// neither set that long the result is DeltaUnknown.
func ClassifyDelta(consecutive, random []Binding) (address.DeltaType, int) {
	if len(consecutive)+len(random) < 2 {
		return address.DeltaUnknown, 0
	}
	equal := true
	for _, set := range [][]Binding{consecutive, random} {
		for _, b := range set {
			if b.Mapped != b.Local {
				equal = false
			}
		}
	}
	if equal {
		return address.DeltaEqual, 0
	}
	if len(consecutive) < 2 && len(random) < 2 {
		return address.DeltaUnknown, 0
	}
	preserving := true
	for _, set := range [][]Binding{consecutive, random} {
		for i := 1; i < len(set); i++ {
			if portDistance(set[i-1].Mapped, set[i].Mapped) != portDistance(set[i-1].Local, set[i].Local) {
				preserving = false
			}
		}
	}
	if preserving {
		return address.DeltaPreserving, 0
	}
	cc, cOK := constantStep(consecutive)
	if rc, ok := constantStep(random); ok && (len(consecutive) < 2 || (cOK && cc == rc)) {
		return address.DeltaIndependent, rc
	}
	if cOK {
		return address.DeltaDependent, cc
	}
	return address.DeltaRandom, 0
}

// constantStep reports the step c when set has two or more samples and
// every mapped port is the previous one plus c.
func constantStep(set []Binding) (int, bool) {
	if len(set) < 2 {
		return 0, false
	}
	c := portDistance(set[0].Mapped, set[1].Mapped)
	for i := 2; i < len(set); i++ {
		if portDistance(set[i-1].Mapped, set[i].Mapped) != c {
			return 0, false
		}
	}
	return c, true
}

// portDistance is b-a modulo 2^16, in [-32768, 32767].
func portDistance(a, b uint16) int { return int(int16(b - a)) }

// agreedIP picks the external IP from the mapped addresses servers reported
// (in server order): the first IP two servers agree on, or the only one when
// just one server answered. Otherwise it returns why there is none.
func agreedIP(answers []Observation) (netip.Addr, string) {
	switch len(answers) {
	case 0:
		return netip.Addr{}, "no stun server answered"
	case 1:
		return answers[0].Mapped.Addr(), ""
	}
	for i, a := range answers {
		for _, b := range answers[i+1:] {
			if a.Mapped.Addr() == b.Mapped.Addr() {
				return a.Mapped.Addr(), ""
			}
		}
	}
	reason := "stun servers disagree on the external ip:"
	for _, a := range answers {
		reason += fmt.Sprintf(" %s says %s", a.Server, a.Mapped.Addr())
		if a != answers[len(answers)-1] {
			reason += ","
		}
	}
	return netip.Addr{}, reason
}
