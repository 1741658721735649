package strategy_test

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/strategy"
)

const learnedID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// iface is an interface with the given external and internal IPs.
func iface(ext, in string) address.Interface {
	return address.Interface{
		ExternalIP: netip.MustParseAddr(ext),
		InternalIP: netip.MustParseAddr(in),
		ListenPort: 40000,
		NAT:        address.NATOpen,
		Delta:      address.DeltaNA,
	}
}

// learned is a peer address with the given interfaces, split by family.
func learned(ifs ...address.Interface) address.Address {
	a := address.Address{SignalOffsets: []int{0}, NodeID: learnedID, MachineID: "0123456789abcdef"}
	for _, it := range ifs {
		if it.ExternalIP.Is4() {
			a.IPv4 = append(a.IPv4, it)
		} else {
			a.IPv6 = append(a.IPv6, it)
		}
	}
	return a
}

func TestCheckLearned(t *testing.T) {
	public := learned(iface("203.0.113.1", "192.168.1.5"))
	local := learned(iface("127.0.0.1", "127.0.0.1"))
	// Our links: 192.168.1.0/24 and 2001:db8:1::/64, as env.OnLink would
	// say (never loopback). A hostile onLink is tried below too.
	links := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}
	onLink := func(ip netip.Addr) bool {
		for _, p := range links {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	everything := func(netip.Addr) bool { return true }

	tests := []struct {
		name   string
		self   address.Address
		peer   address.Address
		onLink func(netip.Addr) bool
		want   address.Address // zero: ErrForbiddenTarget
	}{
		{"public peer on our link kept whole", public,
			learned(iface("198.51.100.2", "192.168.1.9")), onLink,
			learned(iface("198.51.100.2", "192.168.1.9"))},
		{"internal ip off our links becomes the external", public,
			learned(iface("198.51.100.2", "10.9.9.9")), onLink,
			learned(iface("198.51.100.2", "198.51.100.2"))},
		{"nil onLink puts nothing on our links", public,
			learned(iface("198.51.100.2", "192.168.1.9")), nil,
			learned(iface("198.51.100.2", "198.51.100.2"))},
		{"loopback external with internal on our link dials only the internal", public,
			learned(iface("127.0.0.1", "192.168.1.9")), onLink,
			learned(iface("192.168.1.9", "192.168.1.9"))},
		{"loopback everywhere refused", public,
			learned(iface("127.0.0.1", "127.0.0.1")), onLink, address.Address{}},
		{"loopback refused even when onLink claims it", public,
			learned(iface("127.0.0.1", "127.0.0.1")), everything, address.Address{}},
		{"loopback internal behind a public external dials the external", public,
			learned(iface("198.51.100.2", "127.0.0.1")), everything,
			learned(iface("198.51.100.2", "198.51.100.2"))},
		{"unspecified refused", public,
			learned(iface("0.0.0.0", "10.9.9.9")), onLink, address.Address{}},
		{"multicast refused", public,
			learned(iface("224.0.0.1", "10.9.9.9")), onLink, address.Address{}},
		{"broadcast refused", public,
			learned(iface("255.255.255.255", "10.9.9.9")), onLink, address.Address{}},
		{"link-local ipv4 refused", public,
			learned(iface("169.254.1.1", "169.254.1.1")), everything, address.Address{}},
		{"ipv6 loopback refused", public,
			learned(iface("::1", "::1")), onLink, address.Address{}},
		{"ipv6 link-local internal replaced", public,
			learned(iface("2001:db8:9::2", "fe80::2")), everything,
			learned(iface("2001:db8:9::2", "2001:db8:9::2"))},
		{"ipv6 internal on our link kept", public,
			learned(iface("2001:db8:9::2", "2001:db8:1::2")), onLink,
			learned(iface("2001:db8:9::2", "2001:db8:1::2"))},
		{"only the dialable interfaces are left", public,
			learned(iface("127.0.0.1", "127.0.0.1"), iface("198.51.100.2", "10.9.9.9"), iface("::1", "::1"), iface("2001:db8:9::2", "2001:db8:9::2")), onLink,
			learned(iface("198.51.100.2", "198.51.100.2"), iface("2001:db8:9::2", "2001:db8:9::2"))},
		{"no interfaces refused", public, learned(), onLink, address.Address{}},
		{"local-only self may dial loopback", local,
			learned(iface("127.0.0.1", "127.0.0.1")), onLink,
			learned(iface("127.0.0.1", "127.0.0.1"))},
		{"local-only self: loopback internal off our links becomes the external", local,
			learned(iface("127.0.0.2", "127.0.0.1")), onLink,
			learned(iface("127.0.0.2", "127.0.0.2"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := strategy.CheckLearned(tt.self, tt.peer, tt.onLink)
			if tt.want.NodeID == "" {
				if !errors.Is(err, strategy.ErrForbiddenTarget) {
					t.Fatalf("CheckLearned(%s) = %s, %v; want ErrForbiddenTarget", tt.peer, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckLearned(%s): %v", tt.peer, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckLearned(%s)\n got %s\nwant %s", tt.peer, got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("result does not validate: %v", err)
			}
		})
	}
}
