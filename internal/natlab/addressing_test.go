package natlab

import (
	"net/netip"
	"testing"
)

func TestAddressing(t *testing.T) {
	tests := []struct {
		name string
		got  func() (any, error)
		want string // "" when an error is wanted
	}{
		{"first router wan", func() (any, error) { return routerWANIP(1) }, "203.0.113.11"},
		{"last router wan", func() (any, error) { return routerWANIP(200) }, "203.0.113.210"},
		{"router 0", func() (any, error) { return routerWANIP(0) }, ""},
		{"router 201", func() (any, error) { return routerWANIP(201) }, ""},
		{"nat lan", func() (any, error) { return natLAN(3) }, "10.3.0.0/24"},
		{"nat lan 201", func() (any, error) { return natLAN(201) }, ""},
		{"first public lan", func() (any, error) { return publicLAN(1) }, "198.51.100.16/28"},
		{"last public lan", func() (any, error) { return publicLAN(15) }, "198.51.100.240/28"},
		{"public lan 16", func() (any, error) { return publicLAN(16) }, ""},
		{"nat gateway", func() (any, error) { return lanAddr(netip.MustParsePrefix("10.7.0.0/24"), 1) }, "10.7.0.1"},
		{"nat last host", func() (any, error) { return lanAddr(netip.MustParsePrefix("10.7.0.0/24"), 254) }, "10.7.0.254"},
		{"nat lan full", func() (any, error) { return lanAddr(netip.MustParsePrefix("10.7.0.0/24"), 255) }, ""},
		{"public first host", func() (any, error) { return lanAddr(netip.MustParsePrefix("198.51.100.32/28"), 2) }, "198.51.100.34"},
		{"public last host", func() (any, error) { return lanAddr(netip.MustParsePrefix("198.51.100.32/28"), 14) }, "198.51.100.46"},
		{"public lan full", func() (any, error) { return lanAddr(netip.MustParsePrefix("198.51.100.32/28"), 15) }, ""},
		{"first router wan6", func() (any, error) { return routerWANIP6(1) }, "2001:db8:ffff::11"},
		{"last router wan6", func() (any, error) { return routerWANIP6(200) }, "2001:db8:ffff::210"},
		{"router wan6 201", func() (any, error) { return routerWANIP6(201) }, ""},
		{"site6", func() (any, error) { return site6(12) }, "2001:db8:12::/48"},
		{"last site6", func() (any, error) { return site6(200) }, "2001:db8:200::/48"},
		{"site6 0", func() (any, error) { return site6(0) }, ""},
		{"lan6 gateway", func() (any, error) { return lanAddr6(netip.MustParsePrefix("2001:db8:7::/64"), 1) }, "2001:db8:7::1"},
		{"lan6 host", func() (any, error) { return lanAddr6(netip.MustParsePrefix("2001:db8:7::/64"), 254) }, "2001:db8:7::254"},
		{"lan6 0", func() (any, error) { return lanAddr6(netip.MustParsePrefix("2001:db8:7::/64"), 0) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.got()
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.(interface{ String() string }).String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// Router WAN addresses must stay out of the WAN services' range and inside
// the WAN prefix; public LANs must not overlap the WAN prefix.
func TestAddressingDisjoint(t *testing.T) {
	for n := 1; n <= maxRouters; n++ {
		a, _ := routerWANIP(n)
		if !wanPrefix.Contains(a) || a == wanAddrs[0] || a == wanAddrs[1] {
			t.Fatalf("router %d wan address %s", n, a)
		}
	}
	for k := 1; k <= maxPublicRouters; k++ {
		p, _ := publicLAN(k)
		if p.Overlaps(wanPrefix) || !publicPrefix.Contains(p.Addr()) {
			t.Fatalf("public lan %d = %s", k, p)
		}
	}
}
