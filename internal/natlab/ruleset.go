package natlab

import (
	"fmt"
	"net/netip"
	"strings"
)

// Interface names inside a router namespace.
const (
	wanIface = "wan" // veth to the WAN bridge
	lanIface = "lan" // bridge of the router's hosts
)

// forward is one port forward of a Forwarded router: TCP and UDP port Port on
// the WAN address go to the same port on To, and in a lab with IPv6 the
// firewall lets new connections to that port of To6 in.
type forward struct {
	Port uint16
	To   netip.Addr // invalid for a V6Only host
	To6  netip.Addr // invalid without IPv6
}

// rulesetSpec is what a router's nftables ruleset depends on.
type rulesetSpec struct {
	Kind     Kind
	WANIP    netip.Addr
	LAN      netip.Prefix
	Forwards []forward
	// Reset answers unsolicited TCP from the WAN with a reset instead of
	// dropping it (RejectWithReset).
	Reset bool
	// IPv6 adds the router's IPv6 firewall.
	IPv6 bool
	// CGNAT routes IPv6 unfiltered, as carriers do.
	CGNAT bool
	// UPnP adds miniupnpd's table and lets what it DNATs in; STUN is the
	// server whose answers reach miniupnpd's STUN test (see UPnP).
	UPnP MapProtocol
	STUN netip.Addr
}

// mappingTimeout is how long a FullCone mapping outlives its last outbound
// packet: conntrack's timeout for a UDP stream.
const mappingTimeout = "2m"

// ruleset renders the nft(8) script that gives a router its kind's
// behaviour. It replaces the namespace's whole ruleset in one transaction.
//
// Mapping: plain masquerade keeps the source port when that tuple is free
// (endpoint-independent, port preserving); masquerade fully-random picks a
// random port for every new connection (endpoint-dependent). Filtering: from
// the WAN only packets of known connections (ct state established,related),
// forwarded ports and pings pass; everything else is dropped silently, as
// home and carrier routers do, so a peer's early SYN is retransmitted rather
// than reset. A Public router routes its LAN unfiltered and drops only what
// is addressed to itself. With s.Reset, unsolicited TCP is answered with a
// reset instead, from the router's kernel; other protocols are still dropped.
//
// FullCone records each outbound TCP and UDP mapping (protocol and mapped
// port, read after masquerade) in a dynamic map to the LAN host's address
// and port, and DNATs a new inbound connection to a mapped port by that
// map, so that any WAN host reaches the mapping; the forward chain accepts
// what was so DNATed.
//
// RestrictedCone DNATs its forwards like Forwarded, records every (LAN
// host, remote IP) pair a host sends to in a dynamic set, and accepts a
// DNATed new connection only from a remote IP in the host's pairs.
//
// IPv6 (s.IPv6) is routed without translation: the NAT kinds are stateful
// firewalls (outbound and established or related inbound pass, plus the
// ICMPv6 that RFC 4890 says must: errors, packet too big, echo request),
// Public and CGNAT routers filter only what is addressed to themselves.
// Neighbour discovery to the router itself always passes.
func ruleset(s rulesetSpec) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// refuse ends a filter chain: what the WAN sent unasked goes no further.
	refuse := func() {
		if s.Reset {
			w("\t\tiifname %q meta l4proto tcp reject with tcp reset", wanIface)
		}
		w("\t\tiifname %q drop", wanIface)
	}
	w("flush ruleset")
	w("table ip natlab {")
	if s.Kind == RestrictedCone {
		w("\tset contacted {")
		w("\t\ttype ipv4_addr . ipv4_addr")
		w("\t\tflags dynamic,timeout")
		w("\t\ttimeout %s", mappingTimeout)
		w("\t}")
	}
	if s.Kind == FullCone {
		w("\tmap fullcone {")
		w("\t\ttype inet_proto . inet_service : ipv4_addr . inet_service")
		w("\t\tflags dynamic,timeout")
		w("\t\ttimeout %s", mappingTimeout)
		w("\t}")
	}
	forwards := (s.Kind == Forwarded || s.Kind == RestrictedCone) && len(s.Forwards) > 0
	if forwards || s.Kind == FullCone {
		w("\tchain prerouting {")
		w("\t\ttype nat hook prerouting priority dstnat; policy accept;")
		for _, f := range s.Forwards {
			if !f.To.IsValid() {
				continue
			}
			for _, proto := range []string{"tcp", "udp"} {
				w("\t\tip daddr %s %s dport %d dnat to %s:%d", s.WANIP, proto, f.Port, f.To, f.Port)
			}
		}
		if s.Kind == FullCone {
			w("\t\tiifname %q ip daddr %s meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @fullcone", wanIface, s.WANIP)
		}
		w("\t}")
	}
	if s.Kind != Public {
		w("\tchain postrouting {")
		w("\t\ttype nat hook postrouting priority srcnat; policy accept;")
		if s.Kind == Hard {
			w("\t\toifname %q masquerade fully-random", wanIface)
		} else {
			w("\t\toifname %q masquerade", wanIface)
		}
		if forwards {
			// Hairpin: a LAN host reaching a forward by the WAN address gets
			// answers through the router, not straight from the LAN peer.
			w("\t\toifname %q ip saddr %s ct status dnat masquerade", lanIface, s.LAN.Masked())
		}
		w("\t}")
	}
	if s.Kind == FullCone {
		// After srcnat: th sport is the mapped port.
		w("\tchain mappings {")
		w("\t\ttype filter hook postrouting priority srcnat + 100; policy accept;")
		w("\t\toifname %q meta l4proto { tcp, udp } ct direction original update @fullcone { meta l4proto . th sport : ct original ip saddr . ct original proto-src }", wanIface)
		w("\t}")
	}
	w("\tchain input {")
	w("\t\ttype filter hook input priority filter; policy accept;")
	if s.UPnP != 0 {
		// PCP and NAT-PMP share a port and miniupnpd serves both or
		// neither: drop the one not asked for by its version byte.
		if s.UPnP&PCP == 0 {
			w("\t\tiifname %q udp dport 5351 @th,64,8 2 drop", lanIface)
		}
		if s.UPnP&NATPMP == 0 {
			w("\t\tiifname %q udp dport 5351 @th,64,8 0 drop", lanIface)
		}
		// miniupnpd's STUN test asks for answers from other addresses.
		w("\t\tiifname %q ip saddr %s udp sport 1024-65535 accept", wanIface, s.STUN)
		w("\t\tiifname %q ip saddr %s udp sport 1024-65535 accept", wanIface, wanAddrs[1])
	}
	w("\t\tiifname %q ct state established,related accept", wanIface)
	w("\t\tiifname %q icmp type echo-request accept", wanIface)
	refuse()
	w("\t}")
	if s.Kind != Public {
		w("\tchain forward {")
		w("\t\ttype filter hook forward priority filter; policy accept;")
		if s.Kind == RestrictedCone {
			// Before NAT on the way out: saddr is the LAN host.
			w("\t\tiifname %q oifname %q update @contacted { ip saddr . ip daddr }", lanIface, wanIface)
		}
		w("\t\tiifname %q ct state established,related accept", wanIface)
		switch {
		case s.Kind == Forwarded || s.Kind == FullCone || s.UPnP != 0:
			w("\t\tiifname %q ct status dnat accept", wanIface)
		case s.Kind == RestrictedCone:
			// After DNAT on the way in: daddr is the LAN host.
			w("\t\tiifname %q ct status dnat ip daddr . ip saddr @contacted accept", wanIface)
		}
		refuse()
		w("\t}")
	}
	w("}")
	if s.IPv6 {
		ruleset6(s, w, refuse)
	}
	if s.UPnP != 0 {
		b.WriteString(miniupnpdTable)
	}
	return b.String()
}

// ruleset6 renders the router's IPv6 table; see ruleset.
func ruleset6(s rulesetSpec, w func(string, ...any), refuse func()) {
	const (
		icmpErrors = "destination-unreachable, packet-too-big, time-exceeded, parameter-problem"
		nd         = "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert"
	)
	w("table ip6 natlab6 {")
	if s.Kind == FullCone {
		w("\tset fullcone {")
		w("\t\ttype ipv6_addr . inet_proto . inet_service")
		w("\t\tflags dynamic,timeout")
		w("\t\ttimeout %s", mappingTimeout)
		w("\t}")
	}
	w("\tchain input {")
	w("\t\ttype filter hook input priority filter; policy accept;")
	w("\t\tiifname %q ct state established,related accept", wanIface)
	w("\t\tiifname %q icmpv6 type { %s, echo-request, %s } accept", wanIface, icmpErrors, nd)
	refuse()
	w("\t}")
	if s.Kind != Public && !s.CGNAT {
		w("\tchain forward {")
		w("\t\ttype filter hook forward priority filter; policy accept;")
		if s.Kind == FullCone {
			w("\t\toifname %q meta l4proto { tcp, udp } update @fullcone { ip6 saddr . meta l4proto . th sport }", wanIface)
		}
		w("\t\tiifname %q ct state established,related accept", wanIface)
		w("\t\tiifname %q icmpv6 type { %s, echo-request } accept", wanIface, icmpErrors)
		for _, f := range s.Forwards {
			if f.To6.IsValid() {
				w("\t\tiifname %q ip6 daddr %s meta l4proto { tcp, udp } th dport %d accept", wanIface, f.To6, f.Port)
			}
		}
		if s.Kind == FullCone {
			w("\t\tiifname %q meta l4proto { tcp, udp } ip6 daddr . meta l4proto . th dport @fullcone accept", wanIface)
		}
		refuse()
		w("\t}")
	}
	w("}")
}
