package natprobe

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/reachd/reachd/address"
)

func TestTargetsFor(t *testing.T) {
	ap := netip.MustParseAddrPort
	servers := []server{
		{name: "a:3478", addrs: []netip.AddrPort{ap("[2001:db8::1]:3478"), ap("198.51.100.1:3478")}},
		{name: "b:3478", err: errors.New("resolve b: no such host")},
		{name: "c:3478", addrs: []netip.AddrPort{ap("198.51.100.1:3478")}}, // same as a
		{name: "d:3478", addrs: []netip.AddrPort{ap("[fe80::7]:3478")}},
	}
	tests := []struct {
		name       string
		servers    []server
		local      string
		want       []string
		wantReason string
	}{
		{"ipv4 picks the ipv4 address, once", servers, "10.0.0.2", []string{"198.51.100.1:3478"}, ""},
		{"ipv6 global", servers, "2001:db8::99", []string{"[2001:db8::1]:3478"}, ""},
		{"link-local only with link-local, zone added", servers, "fe80::2%eth0", []string{"[fe80::7%eth0]:3478"}, ""},
		{"none configured", nil, "10.0.0.2", nil, "no stun servers configured"},
		{"none resolved", servers[1:2], "10.0.0.2", nil, "no stun server could be resolved: resolve b: no such host"},
		{"no family", servers[2:3], "2001:db8::99", nil, "no ipv6 stun server configured"},
		{"link-local without server", servers[:3], "fe80::2%eth0", nil, "link-local address and no link-local stun server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets, failed, reason := targetsFor(tt.servers, netip.MustParseAddr(tt.local))
			var got []string
			for _, tg := range targets {
				got = append(got, tg.addr.String())
			}
			if len(got) != len(tt.want) || reason != tt.wantReason {
				t.Fatalf("targets %v reason %q, want %v %q", got, reason, tt.want, tt.wantReason)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("target %d = %s, want %s", i, got[i], tt.want[i])
				}
			}
			for _, f := range failed {
				if f.Server != "b:3478" || f.Error == "" {
					t.Errorf("failed = %+v, want only b with its error", f)
				}
			}
		})
	}
}

func TestMarkBlocked(t *testing.T) {
	answered := Result{Servers: []ServerResult{{Server: "s", Mapped: netip.MustParseAddrPort("203.0.113.2:1")}}}
	silent := Result{Servers: []ServerResult{{Server: "s", Error: "no answer"}}}
	tests := []struct {
		name     string
		udp, tcp Result
		want     address.NATType
	}{
		{"udp silent, tcp answers", silent, answered, address.NATBlocked},
		{"both silent", silent, silent, address.NATUnknown},
		{"udp answers", answered, silent, address.NATUnknown},
		{"no servers", Result{}, answered, address.NATUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ifc := Interface{UDP: tt.udp, TCP: tt.tcp}
			markBlocked(&ifc)
			if ifc.UDP.NAT != tt.want {
				t.Errorf("udp nat = %v, want %v", ifc.UDP.NAT, tt.want)
			}
			if tt.want == address.NATBlocked && (ifc.UDP.Delta != address.DeltaNA || ifc.UDP.Reason == "") {
				t.Errorf("blocked: delta %v reason %q, want na and a reason", ifc.UDP.Delta, ifc.UDP.Reason)
			}
		})
	}
}
