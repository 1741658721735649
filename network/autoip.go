package network

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// DefaultRange is where "ip": "auto" derives a network's subnet (a /24,
// see subnet.go) when no member of the network says otherwise.
var DefaultRange = netip.MustParsePrefix("10.64.0.0/10")

// ErrRangeFull: every host address of the network's range is taken.
var ErrRangeFull = errors.New("network: no free address in the range")

// Automatic addresses, without a coordinator:
//
//  1. The range is the one most members announce (ties: the lowest), or
//     the network's derived subnet (subnet.go) when none is known yet.
//  2. The k-th candidate of a node is host number 1 + H(node ID, name, k)
//     mod (hosts - 2) of the range (never the network or broadcast
//     address); the first candidate that no known member announces is
//     taken. Different nodes start from different, stable candidates, so
//     most joins never meet.
//  3. The member announces it, with how long it has held it. If two
//     members announce one address, mustMove decides who picks again
//     (with the other's address taken) and announces the new one: the
//     first holder keeps it. Claims made within tie of each other (two
//     joins at the same moment, each unaware of the other) fall back to
//     a fixed order: an automatic address yields to a configured one,
//     and between two automatic ones the larger node ID yields.
//
// Both sides apply the same rule: where they see the same two claims,
// exactly one moves. How long the other has held
// its address is taken on its word only while we are new to the network
// (we could not have heard it before); later, a member's claim dates from
// when we first heard it. So a newcomer, whatever it says, never moves a
// member that held its address before it came. Two members that each held
// one address before hearing of the other (a partition that healed) both
// keep it: the clash is logged.

// claim is one member's address as announced.
type claim struct {
	id    string
	addr  netip.Addr
	auto  bool
	since time.Time // when it took addr, as far as we can tell
}

// mustMove reports whether self yields its address to other, claims
// closer than tie being simultaneous. A configured address never moves.
func mustMove(self, other claim, tie time.Duration) bool {
	switch {
	case self.addr != other.addr || self.id == other.id || !self.auto:
		return false
	case other.since.Add(tie).Before(self.since): // other held it first
		return true
	case self.since.Add(tie).Before(other.since): // we did
		return false
	case !other.auto:
		return true
	}
	return self.id > other.id
}

// candidate returns a node's k-th candidate host address in p.
func candidate(nodeID, name string, p netip.Prefix, k int) netip.Addr {
	hosts := hostCount(p)
	h := sha256.New()
	h.Write([]byte(nodeID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(k)))
	sum := h.Sum(nil)
	n := 1 + binary.BigEndian.Uint64(sum[:8])%(hosts-2)
	return hostAddr(p, n)
}

// pick returns the node's first candidate in p that taken does not hold;
// after a few tries it scans the range from its start.
func pick(nodeID, name string, p netip.Prefix, taken map[netip.Addr]bool) (netip.Addr, error) {
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("network: range %v: want IPv4 with at most /30", p)
	}
	for k := range 16 {
		if a := candidate(nodeID, name, p, k); !taken[a] {
			return a, nil
		}
	}
	for n := uint64(1); n < hostCount(p)-1; n++ {
		if a := hostAddr(p, n); !taken[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w %v", ErrRangeFull, p)
}

// chooseRange is the range most announced prefixes fall in (ties: the
// lowest), or def for none.
func chooseRange(prefixes []netip.Prefix, def netip.Prefix) netip.Prefix {
	count := map[netip.Prefix]int{}
	for _, p := range prefixes {
		if p.Addr().Is4() && p.Bits() <= 30 {
			count[p.Masked()]++
		}
	}
	if len(count) == 0 {
		return def
	}
	keys := make([]netip.Prefix, 0, len(count))
	for p := range count {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, func(a, b netip.Prefix) int {
		if c := count[b] - count[a]; c != 0 {
			return c
		}
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return keys[0]
}

func hostCount(p netip.Prefix) uint64 { return 1 << (32 - p.Bits()) }

func hostAddr(p netip.Prefix, n uint64) netip.Addr {
	base := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(base[:]) + uint32(n)
	return netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, v)))
}
