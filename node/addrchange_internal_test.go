package node

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/reachd/reachd/natprobe"
)

func TestMovedLocals(t *testing.T) {
	ip := netip.MustParseAddr
	ifc := func(local, ext string) natprobe.Interface {
		i := natprobe.Interface{IP: ip(local)}
		if ext != "" {
			i.TCP.ExternalIP = ip(ext)
		}
		return i
	}
	rep := func(ifcs ...natprobe.Interface) natprobe.Report { return natprobe.Report{Interfaces: ifcs} }
	for _, tt := range []struct {
		name     string
		old, now natprobe.Report
		want     []netip.Addr
	}{
		{"nothing changed", rep(ifc("10.1.0.2", "203.0.113.11")), rep(ifc("10.1.0.2", "203.0.113.11")), nil},
		{"new WAN address", rep(ifc("10.1.0.2", "203.0.113.11")), rep(ifc("10.1.0.2", "203.0.113.212")), []netip.Addr{ip("10.1.0.2")}},
		{"external IP lost", rep(ifc("10.1.0.2", "203.0.113.11")), rep(ifc("10.1.0.2", "")), []netip.Addr{ip("10.1.0.2")}},
		{"interface gone", rep(ifc("10.1.0.2", "203.0.113.11"), ifc("192.168.1.5", "198.51.100.7")),
			rep(ifc("192.168.1.5", "198.51.100.7")), []netip.Addr{ip("10.1.0.2")}},
		{"an interface came", rep(ifc("10.1.0.2", "203.0.113.11")),
			rep(ifc("10.1.0.2", "203.0.113.11"), ifc("192.168.1.5", "198.51.100.7")), nil},
		{"no external IP before", rep(ifc("10.1.0.2", "")), rep(ifc("10.1.0.2", "203.0.113.11")), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := movedLocals(tt.old, tt.now); !slices.Equal(got, tt.want) {
				t.Errorf("moved %v, want %v", got, tt.want)
			}
		})
	}
}
