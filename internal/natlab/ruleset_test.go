package natlab

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRuleset(t *testing.T) {
	lan := netip.MustParsePrefix("10.2.0.0/24")
	wanIP := netip.MustParseAddr("203.0.113.12")
	host := netip.MustParseAddr("10.2.0.2")
	tests := []struct {
		name    string
		spec    rulesetSpec
		want    []string // lines that must be present
		wantNot []string // lines that must be absent
	}{
		{
			// No NAT, no filtering of its LAN; only what is addressed to
			// the router itself is dropped.
			name: "public",
			spec: rulesetSpec{Kind: Public, WANIP: wanIP, LAN: lan},
			want: []string{
				"chain input {",
				`iifname "wan" ct state established,related accept`,
				`iifname "wan" drop`,
			},
			wantNot: []string{"masquerade", "chain forward", "reject"},
		},
		{
			name: "easy",
			spec: rulesetSpec{Kind: Easy, WANIP: wanIP, LAN: lan},
			want: []string{
				"flush ruleset",
				`oifname "wan" masquerade`,
				`iifname "wan" ct state established,related accept`,
				`iifname "wan" drop`,
			},
			wantNot: []string{"fully-random", "dnat", "prerouting", "reject"},
		},
		{
			name: "easy with reset",
			spec: rulesetSpec{Kind: Easy, WANIP: wanIP, LAN: lan, Reset: true},
			want: []string{
				`iifname "wan" ct state established,related accept`,
				`iifname "wan" meta l4proto tcp reject with tcp reset`,
				`iifname "wan" drop`,
			},
		},
		{
			name: "public with reset",
			spec: rulesetSpec{Kind: Public, WANIP: wanIP, LAN: lan, Reset: true},
			want: []string{
				`iifname "wan" meta l4proto tcp reject with tcp reset`,
				`iifname "wan" drop`,
			},
			wantNot: []string{"chain forward"},
		},
		{
			name:    "hard",
			spec:    rulesetSpec{Kind: Hard, WANIP: wanIP, LAN: lan},
			want:    []string{`oifname "wan" masquerade fully-random`, `iifname "wan" drop`},
			wantNot: []string{`oifname "wan" masquerade` + "\n", "dnat"},
		},
		{
			name: "forwarded",
			spec: rulesetSpec{Kind: Forwarded, WANIP: wanIP, LAN: lan, Forwards: []forward{{Port: 4000, To: host}}},
			want: []string{
				`oifname "wan" masquerade`,
				"ip daddr 203.0.113.12 tcp dport 4000 dnat to 10.2.0.2:4000",
				"ip daddr 203.0.113.12 udp dport 4000 dnat to 10.2.0.2:4000",
				`oifname "lan" ip saddr 10.2.0.0/24 ct status dnat masquerade`,
				`iifname "wan" ct status dnat accept`,
			},
			wantNot: []string{"fully-random"},
		},
		{
			// A stateful IPv6 firewall next to the NAT: ND and ICMPv6
			// errors pass, new inbound is dropped.
			name: "easy with ipv6",
			spec: rulesetSpec{Kind: Easy, WANIP: wanIP, LAN: lan, IPv6: true},
			want: []string{
				"table ip6 natlab6 {",
				`iifname "wan" icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept`,
				`iifname "wan" icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request } accept`,
				`iifname "wan" ct state established,related accept`,
				`iifname "wan" drop`,
			},
			wantNot: []string{"masquerade random", "ip6 daddr"},
		},
		{
			name: "forwarded with ipv6 pinhole",
			spec: rulesetSpec{Kind: Forwarded, WANIP: wanIP, LAN: lan, IPv6: true,
				Forwards: []forward{{Port: 4000, To: host, To6: netip.MustParseAddr("2001:db8:2::2")}}},
			want: []string{`iifname "wan" ip6 daddr 2001:db8:2::2 meta l4proto { tcp, udp } th dport 4000 accept`},
		},
		{
			// Public routes IPv6 unfiltered; only the router itself is.
			name:    "public with ipv6",
			spec:    rulesetSpec{Kind: Public, WANIP: wanIP, LAN: lan, IPv6: true},
			want:    []string{"table ip6 natlab6 {", `iifname "wan" drop`},
			wantNot: []string{"chain forward"},
		},
		{
			// Mappings recorded after masquerade; new inbound DNATed by
			// them and accepted; IPv6 pinholes by a set alike.
			name: "fullcone",
			spec: rulesetSpec{Kind: FullCone, WANIP: wanIP, LAN: lan, IPv6: true},
			want: []string{
				`oifname "wan" masquerade`,
				"type filter hook postrouting priority srcnat + 100; policy accept;",
				`oifname "wan" meta l4proto { tcp, udp } ct direction original update @fullcone { meta l4proto . th sport : ct original ip saddr . ct original proto-src }`,
				`iifname "wan" ip daddr 203.0.113.12 meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @fullcone`,
				`iifname "wan" ct status dnat accept`,
				`oifname "wan" meta l4proto { tcp, udp } update @fullcone { ip6 saddr . meta l4proto . th sport }`,
				`iifname "wan" meta l4proto { tcp, udp } ip6 daddr . meta l4proto . th dport @fullcone accept`,
				`iifname "wan" drop`,
			},
			wantNot: []string{"fully-random"},
		},
		{
			// Forwards DNATed; a new inbound one accepted only from an
			// address the host sent to.
			name: "restricted cone",
			spec: rulesetSpec{Kind: RestrictedCone, WANIP: wanIP, LAN: lan, Forwards: []forward{{Port: 4000, To: host}}},
			want: []string{
				"type ipv4_addr . ipv4_addr",
				`ip daddr 203.0.113.12 tcp dport 4000 dnat to 10.2.0.2:4000`,
				`iifname "lan" oifname "wan" update @contacted { ip saddr . ip daddr }`,
				`iifname "wan" ct status dnat ip daddr . ip saddr @contacted accept`,
				`iifname "wan" drop`,
			},
			wantNot: []string{`iifname "wan" ct status dnat accept`},
		},
		{
			name:    "ipv4 only",
			spec:    rulesetSpec{Kind: Hard, WANIP: wanIP, LAN: lan},
			wantNot: []string{"ip6", "icmpv6"},
		},
		{
			// miniupnpd's table, what it DNATs let in, its STUN test's
			// answers let in, NAT-PMP (version 0) dropped when only PCP
			// is served.
			name: "easy with miniupnpd serving pcp",
			spec: rulesetSpec{Kind: Easy, WANIP: wanIP, LAN: lan, UPnP: PCP, STUN: netip.MustParseAddr("203.0.113.1")},
			want: []string{
				"table inet filter {",
				"jump miniupnpd",
				"jump prerouting_miniupnpd",
				"jump postrouting_miniupnpd",
				`iifname "wan" ct status dnat accept`,
				`iifname "wan" ip saddr 203.0.113.1 udp sport 1024-65535 accept`,
				`iifname "lan" udp dport 5351 @th,64,8 0 drop`,
			},
			wantNot: []string{"@th,64,8 2 drop"},
		},
		{
			name:    "easy with miniupnpd serving igd",
			spec:    rulesetSpec{Kind: Easy, WANIP: wanIP, LAN: lan, UPnP: IGD, STUN: netip.MustParseAddr("203.0.113.1")},
			want:    []string{`iifname "lan" udp dport 5351 @th,64,8 0 drop`, `iifname "lan" udp dport 5351 @th,64,8 2 drop`},
			wantNot: []string{},
		},
		{
			name:    "forwarded without forwards",
			spec:    rulesetSpec{Kind: Forwarded, WANIP: wanIP, LAN: lan},
			want:    []string{`oifname "wan" masquerade`, `iifname "wan" drop`},
			wantNot: []string{"dnat to", "prerouting"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ruleset(tt.spec)
			lines := map[string]bool{}
			for _, l := range strings.Split(got, "\n") {
				lines[strings.TrimSpace(l)] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("missing line %q in:\n%s", w, got)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("unwanted %q in:\n%s", w, got)
				}
			}
		})
	}
}
