package natprobe

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPickAddrs(t *testing.T) {
	ips := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		name string
		ips  []netip.Addr
		want []string
	}{
		{"none", nil, nil},
		{"ipv4 only", ips("192.168.1.10"), []string{"192.168.1.10"}},
		{"first ipv4 wins", ips("192.168.1.10", "10.0.0.2"), []string{"192.168.1.10"}},
		{"ipv4 link-local only if nothing else", ips("169.254.1.1", "10.0.0.2"), []string{"10.0.0.2"}},
		{"global ipv6 over ula and link-local", ips("fe80::1", "fd00::1", "2001:db8::1", "10.0.0.2"), []string{"10.0.0.2", "2001:db8::1"}},
		{"ula over link-local", ips("fe80::1", "fd00::1"), []string{"fd00::1"}},
		{"link-local gets the zone", ips("fe80::1"), []string{"fe80::1%eth0"}},
		{"unusable skipped", ips("127.0.0.1", "::1", "224.0.0.1", "0.0.0.0"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, la := range pickAddrs("eth0", 2, tt.ips) {
				if la.Name != "eth0" || la.Index != 2 {
					t.Errorf("%+v: want name eth0 index 2", la)
				}
				got = append(got, la.IP.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("pickAddrs = %v, want %v", got, tt.want)
			}
		})
	}
}
