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

// The IPv6 plan (labs built WithIPv6); see the package comment. Numbers in
// IPv6 addresses are written with their decimal digits (router 12 owns
// 2001:db8:12::/48), so that they read like the IPv4 plan's.
var (
	wanPrefix6 = netip.MustParsePrefix("2001:db8:ffff::/64")
	wanAddrs6  = []netip.Addr{netip.MustParseAddr("2001:db8:ffff::1"), netip.MustParseAddr("2001:db8:ffff::2")}
)

// cgnatLAN returns the LAN of carrier-grade NAT router n: 100.64.n.0/24,
// out of the shared address space 100.64.0.0/10 (RFC 6598).
func cgnatLAN(n int) (netip.Prefix, error) {
	if n < 1 || n > maxRouters {
		return netip.Prefix{}, fmt.Errorf("router number %d out of range 1-%d", n, maxRouters)
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(n), 0}), 24), nil
}

// decimalHex returns the 16-bit group whose hex digits are n's decimal
// digits, for 0 <= n <= 9999: 12 becomes 0x12.
func decimalHex(n int) uint16 {
	var v uint16
	for shift := 0; n > 0; shift += 4 {
		v |= uint16(n%10) << shift
		n /= 10
	}
	return v
}

// routerWANIP6 returns router n's IPv6 address on the WAN bridge,
// 2001:db8:ffff::(10+n), mirroring its IPv4 address.
func routerWANIP6(n int) (netip.Addr, error) {
	if n < 1 || n > maxRouters {
		return netip.Addr{}, fmt.Errorf("router number %d out of range 1-%d", n, maxRouters)
	}
	a := wanPrefix6.Addr().As16()
	a[14], a[15] = byte(decimalHex(routerWANBase+n)>>8), byte(decimalHex(routerWANBase+n))
	return netip.AddrFrom16(a), nil
}

// site6 returns router n's IPv6 site prefix 2001:db8:n::/48, routed to it
// by the WAN namespace (or by its CGNAT).
func site6(n int) (netip.Prefix, error) {
	if n < 1 || n > maxRouters {
		return netip.Prefix{}, fmt.Errorf("router number %d out of range 1-%d", n, maxRouters)
	}
	a := netip.MustParseAddr("2001:db8::").As16()
	g := decimalHex(n)
	a[4], a[5] = byte(g>>8), byte(g)
	return netip.PrefixFrom(netip.AddrFrom16(a), 48), nil
}

// lanAddr6 returns the i-th address of an IPv6 LAN (a /64): i=1 is the
// router, i>=2 are hosts, numbered like lanAddr's (host 10.3.0.2 is
// 2001:db8:3::2).
func lanAddr6(lan netip.Prefix, i int) (netip.Addr, error) {
	if i < 1 || i > 9999 {
		return netip.Addr{}, fmt.Errorf("lan %s: address %d out of range 1-9999", lan, i)
	}
	a := lan.Masked().Addr().As16()
	g := decimalHex(i)
	a[14], a[15] = byte(g>>8), byte(g)
	return netip.AddrFrom16(a), nil
}
