package punch_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ifc(ext, internal string, port uint16, nat address.NATType) address.Interface {
	return address.Interface{ExternalIP: ip(ext), InternalIP: ip(internal), ListenPort: port, NAT: nat, Delta: address.DeltaEqual}
}

func addrs(ss ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range ss {
		out = append(out, netip.MustParseAddrPort(s))
	}
	return out
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	const (
		machineA = "00000000000000aa"
		machineB = "00000000000000bb"
	)
	prc := address.NATPortRestrictedCone
	us := address.Address{
		IPv4:      []address.Interface{ifc("198.51.100.1", "192.168.1.10", 40000, prc)},
		MachineID: machineA,
	}
	usDual := address.Address{
		IPv4:      us.IPv4,
		IPv6:      []address.Interface{ifc("2001:db8:a::10", "2001:db8:a::10", 40000, address.NATOpen)},
		MachineID: machineA,
	}
	tests := []struct {
		name        string
		local, peer address.Address
		onLink      []string // prefixes of our links
		want        []netip.AddrPort
	}{
		{
			name:  "other network: external only",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("203.0.113.5", "10.0.0.5", 41000, prc)},
				MachineID: machineB,
			},
			want: addrs("203.0.113.5:41000"),
		},
		{
			name:  "same nat: internal first, then external",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("198.51.100.1", "192.168.1.20", 41000, prc)},
				MachineID: machineB,
			},
			want: addrs("192.168.1.20:41000", "198.51.100.1:41000"),
		},
		{
			name:  "a shared machine id alone is no lan (cloned images share one)",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("203.0.113.5", "192.168.1.10", 41000, prc)},
				MachineID: machineA,
			},
			want: addrs("203.0.113.5:41000"),
		},
		{
			name:   "an internal ip on one of our links is our lan",
			local:  us,
			onLink: []string{"192.168.1.0/24"},
			peer: address.Address{
				IPv4:      []address.Interface{ifc("203.0.113.5", "192.168.1.10", 41000, prc)},
				MachineID: machineB,
			},
			want: addrs("192.168.1.10:41000", "203.0.113.5:41000"),
		},
		{
			name:  "empty machine ids are not the same machine",
			local: address.Address{IPv4: us.IPv4},
			peer: address.Address{
				IPv4: []address.Interface{ifc("203.0.113.5", "10.0.0.5", 41000, prc)},
			},
			want: addrs("203.0.113.5:41000"),
		},
		{
			name:  "blocked on another network is skipped",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("203.0.113.5", "10.0.0.5", 41000, address.NATBlocked)},
				MachineID: machineB,
			},
			want: nil,
		},
		{
			name:  "blocked on our lan is tried by internal ip only",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("198.51.100.1", "192.168.1.20", 41000, address.NATBlocked)},
				MachineID: machineB,
			},
			want: addrs("192.168.1.20:41000"),
		},
		{
			name:   "blocked with internal as external on our link (unprobed)",
			local:  us,
			onLink: []string{"192.168.1.0/24"},
			peer: address.Address{
				IPv4:      []address.Interface{ifc("192.168.1.10", "192.168.1.10", 41000, address.NATBlocked)},
				MachineID: machineA,
			},
			want: addrs("192.168.1.10:41000"),
		},
		{
			name:  "blocked with internal as external, not on our links",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("192.168.1.10", "192.168.1.10", 41000, address.NATBlocked)},
				MachineID: machineA,
			},
			want: nil,
		},
		{
			name:  "open peer: external equals internal, listed once",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("198.51.100.1", "198.51.100.1", 41000, address.NATOpen)},
				MachineID: machineA,
			},
			want: addrs("198.51.100.1:41000"),
		},
		{
			name:  "mixed peer interfaces: lan tier before wan tier, peer order kept",
			local: us,
			peer: address.Address{
				IPv4: []address.Interface{
					ifc("203.0.113.5", "10.0.0.5", 41000, prc),
					ifc("198.51.100.1", "192.168.1.20", 41000, prc),
					ifc("203.0.113.9", "172.16.0.9", 41000, address.NATFullCone),
				},
				MachineID: machineB,
			},
			want: addrs("192.168.1.20:41000", "203.0.113.5:41000", "198.51.100.1:41000", "203.0.113.9:41000"),
		},
		{
			name:  "peer ipv6 skipped when we have none",
			local: us,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("203.0.113.5", "10.0.0.5", 41000, prc)},
				IPv6:      []address.Interface{ifc("2001:db8:b::5", "2001:db8:b::5", 41000, address.NATOpen)},
				MachineID: machineB,
			},
			want: addrs("203.0.113.5:41000"),
		},
		{
			name:  "peer ipv4 skipped when we have none",
			local: address.Address{IPv6: usDual.IPv6, MachineID: machineA},
			peer: address.Address{
				IPv4:      []address.Interface{ifc("203.0.113.5", "10.0.0.5", 41000, prc)},
				IPv6:      []address.Interface{ifc("2001:db8:b::5", "2001:db8:b::5", 41000, address.NATOpen)},
				MachineID: machineB,
			},
			want: addrs("[2001:db8:b::5]:41000"),
		},
		{
			name:  "dual stack: ipv4 before ipv6 in each tier",
			local: usDual,
			peer: address.Address{
				IPv4:      []address.Interface{ifc("198.51.100.1", "192.168.1.20", 41000, prc)},
				IPv6:      []address.Interface{ifc("2001:db8:b::5", "2001:db8:b::5", 41000, address.NATOpen)},
				MachineID: machineB,
			},
			want: addrs("192.168.1.20:41000", "198.51.100.1:41000", "[2001:db8:b::5]:41000"),
		},
		{
			name:   "ipv6 link-local on our link is zoned by our interface index",
			onLink: []string{"2001:db8:a::/64", "fe80::/64"},
			local: address.Address{
				IPv6: []address.Interface{
					{NetIfIndex: 3, ExternalIP: ip("2001:db8:a::10"), InternalIP: ip("fe80::1"), ListenPort: 40000, NAT: address.NATOpen},
					{NetIfIndex: 4, ExternalIP: ip("2001:db8:c::10"), InternalIP: ip("2001:db8:c::10"), ListenPort: 40000, NAT: address.NATOpen},
				},
				MachineID: machineA,
			},
			peer: address.Address{
				IPv6:      []address.Interface{{NetIfIndex: 9, ExternalIP: ip("2001:db8:a::20"), InternalIP: ip("fe80::2"), ListenPort: 41000, NAT: address.NATOpen}},
				MachineID: machineA,
			},
			want: addrs("[fe80::2%3]:41000", "[2001:db8:a::20]:41000"),
		},
		{
			name:  "invalid peer fields are skipped",
			local: us,
			peer: address.Address{
				IPv4: []address.Interface{
					{ExternalIP: ip("198.51.100.1"), ListenPort: 41000, NAT: prc},
					{ExternalIP: ip("0.0.0.0"), InternalIP: ip("10.0.0.1"), ListenPort: 41000, NAT: prc},
					ifc("203.0.113.5", "10.0.0.5", 0, prc),
				},
				MachineID: machineB,
			},
			want: addrs("198.51.100.1:41000"),
		},
		{
			name:  "no interfaces at all",
			local: address.Address{},
			peer:  address.Address{IPv4: us.IPv4},
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var onLink func(netip.Addr) bool
			if tt.onLink != nil {
				onLink = func(ip netip.Addr) bool {
					for _, p := range tt.onLink {
						if netip.MustParsePrefix(p).Contains(ip) {
							return true
						}
					}
					return false
				}
			}
			got := punch.Candidates(tt.local, tt.peer, onLink)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Candidates =\n  %v\nwant\n  %v", got, tt.want)
			}
		})
	}
}

func ExampleCandidates() {
	nodeA := address.Address{
		IPv4:      []address.Interface{ifc("198.51.100.1", "192.168.1.10", 40000, address.NATPortRestrictedCone)},
		MachineID: "00000000000000aa",
	}
	// B sits behind the same NAT as A.
	nodeB := address.Address{
		IPv4:      []address.Interface{ifc("198.51.100.1", "192.168.1.20", 41000, address.NATPortRestrictedCone)},
		MachineID: "00000000000000bb",
	}
	fmt.Println(punch.Candidates(nodeA, nodeB, nil))
	// Output: [192.168.1.20:41000 198.51.100.1:41000]
}
