package network

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Subnets of automatic addresses. A network's subnet is derived from its
// name and secret (through Keys.Topic, which both derive), so every member
// computes the same one without asking anyone: the k-th candidate is the
// /24 number H(topic, k) mod (the /24s in the range) of the range
// (Config.Range, DefaultRange). The first candidate that overlaps no route
// of the host and no other network of the node is taken; after 16
// candidates the range is scanned from the hashed start. Members whose
// hosts route different subnets may derive different ones: the join then
// settles on the subnet most members announce (settleRange).
//
// A configured address is refused when its subnet overlaps a route of
// the host (or another network's subnet): two routes to one subnet send
// its packets to whichever the kernel prefers.

// SubnetBits is the prefix length of a derived subnet (or the range's,
// when the range is smaller).
const SubnetBits = 24

// ErrSubnetTaken: a network's subnet overlaps a route of the host.
var ErrSubnetTaken = errors.New("network: subnet taken")

// Route is a route of the host, as far as subnets are concerned: the
// destination and the device (or network) it goes to.
type Route struct {
	Prefix netip.Prefix
	Dev    string
}

func (r Route) String() string {
	if r.Dev == "" {
		return r.Prefix.String()
	}
	return r.Prefix.String() + " dev " + r.Dev
}

// RouteError says which route a subnet collides with.
type RouteError struct {
	Subnet netip.Prefix
	Route  Route        // for a derived subnet: the first candidate's
	Range  netip.Prefix // set when every candidate of this range collided
}

func (e *RouteError) Error() string {
	if e.Range.IsValid() {
		return fmt.Sprintf("network: no free /%d in the range %v: every one overlaps a route of the host (the first candidate %v overlaps the route %v)",
			e.Subnet.Bits(), e.Range, e.Subnet, e.Route)
	}
	return fmt.Sprintf("network: subnet %v overlaps the route %v already on this host", e.Subnet, e.Route)
}

func (e *RouteError) Is(target error) bool { return target == ErrSubnetTaken }

// collision returns the first route that overlaps p; default routes
// (prefix length 0) do not count.
func collision(p netip.Prefix, routes []Route) (Route, bool) {
	for _, r := range routes {
		if r.Prefix.IsValid() && r.Prefix.Bits() > 0 && r.Prefix.Addr().Is4() && r.Prefix.Overlaps(p) {
			return r, true
		}
	}
	return Route{}, false
}

// deriveSubnet returns the network's subnet in r: the first of its
// candidates that overlaps none of routes.
func deriveSubnet(topic string, r netip.Prefix, routes []Route) (netip.Prefix, error) {
	r = r.Masked()
	bits := max(SubnetBits, r.Bits())
	count := uint64(1) << (bits - r.Bits())
	nth := func(i uint64) netip.Prefix {
		return netip.PrefixFrom(hostAddr(r, i<<(32-bits)), bits)
	}
	var first uint64
	for k := range 16 {
		h := sha256.New()
		h.Write([]byte("reachd network subnet\x00"))
		h.Write([]byte(topic))
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(k)))
		i := binary.BigEndian.Uint64(h.Sum(nil)[:8]) % count
		if k == 0 {
			first = i
		}
		p := nth(i)
		if _, taken := collision(p, routes); !taken {
			return p, nil
		}
	}
	for j := range count {
		p := nth((first + j) % count)
		if _, taken := collision(p, routes); !taken {
			return p, nil
		}
	}
	route, _ := collision(nth(first), routes)
	return netip.Prefix{}, &RouteError{Subnet: nth(first), Route: route, Range: r}
}

// CheckRange validates a range for automatic subnets (Config.Range) and
// returns it masked.
func CheckRange(r netip.Prefix) (netip.Prefix, error) {
	r = r.Masked()
	if !r.Addr().Is4() || r.Bits() < 8 || r.Bits() > 30 {
		return r, fmt.Errorf("network: range %v: want IPv4, from a /8 to a /30", r)
	}
	return r, nil
}
