package natlab

import (
	"fmt"
	"net/netip"
)

// The addressing plan; see the package comment.
var (
	wanPrefix    = netip.MustParsePrefix("203.0.113.0/24")
	wanAddrs     = []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")}
	publicPrefix = netip.MustParsePrefix("198.51.100.0/24")
)

const (
	maxRouters       = 200 // router WAN addresses are 203.0.113.11 to .210
	maxPublicRouters = 15  // public /28s are 198.51.100.16/28 to .240/28
	routerWANBase    = 10  // router N has WAN address 203.0.113.(routerWANBase+N)
)

// routerWANIP returns router n's WAN address (n counts from 1).
func routerWANIP(n int) (netip.Addr, error) {
	if n < 1 || n > maxRouters {
		return netip.Addr{}, fmt.Errorf("router number %d out of range 1-%d", n, maxRouters)
	}
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(routerWANBase + n)}), nil
}

// natLAN returns the LAN of NAT router n: 10.n.0.0/24.
func natLAN(n int) (netip.Prefix, error) {
	if n < 1 || n > maxRouters {
		return netip.Prefix{}, fmt.Errorf("router number %d out of range 1-%d", n, maxRouters)
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n), 0, 0}), 24), nil
}

// publicLAN returns the LAN of the k-th Public router (k counts from 1):
// 198.51.100.(16k)/28.
func publicLAN(k int) (netip.Prefix, error) {
	if k < 1 || k > maxPublicRouters {
		return netip.Prefix{}, fmt.Errorf("public router number %d out of range 1-%d", k, maxPublicRouters)
	}
	base := publicPrefix.Addr().As4()
	base[3] = byte(16 * k)
	return netip.PrefixFrom(netip.AddrFrom4(base), 28), nil
}

// lanAddr returns the i-th address of a LAN: i=1 is the router, i>=2 are
// hosts. It fails when i leaves no room for the broadcast address.
func lanAddr(lan netip.Prefix, i int) (netip.Addr, error) {
	size := 1 << (32 - lan.Bits())
	if i < 1 || i > size-2 {
		return netip.Addr{}, fmt.Errorf("lan %s is full (address %d of %d)", lan, i, size-2)
	}
	a := lan.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}
