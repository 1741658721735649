package tap_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/reachd/reachd/tap"
)

// TestNewRefusesBadConfig: invalid names, addresses, MTUs and MACs are
// refused with a *ConfigError that names the field and the value, before
// anything on the system is touched (so this runs without root, on any OS).
func TestNewRefusesBadConfig(t *testing.T) {
	p := netip.MustParsePrefix
	v4 := []netip.Prefix{p("10.99.0.1/24")}
	tests := []struct {
		name  string
		cfg   tap.Config
		want  error
		field string
		says  string
	}{
		{"name too long", tap.Config{Name: "reach-abcdefghij"}, tap.ErrInvalidName, "Name", "longer than 15"},
		{"name with slash", tap.Config{Name: "re/ach"}, tap.ErrInvalidName, "Name", "not allowed"},
		{"name with space", tap.Config{Name: "re ach"}, tap.ErrInvalidName, "Name", "not allowed"},
		{"name with colon", tap.Config{Name: "eth0:1"}, tap.ErrInvalidName, "Name", "not allowed"},
		{"name dotdot", tap.Config{Name: ".."}, tap.ErrInvalidName, "Name", "reserved"},
		{"name with bad verb", tap.Config{Name: "reach%s"}, tap.ErrInvalidName, "Name", "%d"},
		{"name with two verbs", tap.Config{Name: "r%d%d"}, tap.ErrInvalidName, "Name", "%d"},
		{"mtu too small", tap.Config{MTU: 67}, tap.ErrInvalidMTU, "MTU", "68..65521"},
		{"mtu negative", tap.Config{MTU: -1}, tap.ErrInvalidMTU, "MTU", "68..65521"},
		{"mtu over the tap limit", tap.Config{MTU: 65522}, tap.ErrInvalidMTU, "MTU", "68..65521"},
		{"mtu too large", tap.Config{MTU: 65536}, tap.ErrInvalidMTU, "MTU", "68..65521"},
		{"mtu too small for ipv6", tap.Config{MTU: 1279, Addrs: []netip.Prefix{p("fd00::1/64")}}, tap.ErrInvalidMTU, "MTU", "at least 1280"},
		{"zero prefix", tap.Config{Addrs: []netip.Prefix{{}}}, tap.ErrInvalidAddr, "Addrs", "not a valid"},
		{"unspecified", tap.Config{Addrs: []netip.Prefix{p("0.0.0.0/8")}}, tap.ErrInvalidAddr, "Addrs", "unspecified"},
		{"loopback", tap.Config{Addrs: []netip.Prefix{p("127.0.0.2/8")}}, tap.ErrInvalidAddr, "Addrs", "loopback"},
		{"multicast", tap.Config{Addrs: []netip.Prefix{p("224.0.0.5/24")}}, tap.ErrInvalidAddr, "Addrs", "multicast"},
		{"ipv6 multicast", tap.Config{Addrs: []netip.Prefix{p("ff02::1/64")}}, tap.ErrInvalidAddr, "Addrs", "multicast"},
		{"network address", tap.Config{Addrs: []netip.Prefix{p("10.99.0.0/24")}}, tap.ErrInvalidAddr, "Addrs", "network address"},
		{"broadcast address", tap.Config{Addrs: []netip.Prefix{p("10.99.0.255/24")}}, tap.ErrInvalidAddr, "Addrs", "broadcast"},
		{"duplicate", tap.Config{Addrs: append(v4, p("10.99.0.1/16"))}, tap.ErrInvalidAddr, "Addrs", "twice"},
		{"mac short", tap.Config{MAC: net.HardwareAddr{2, 0, 0, 0, 1}}, tap.ErrInvalidMAC, "MAC", "6-byte"},
		{"mac multicast", tap.Config{MAC: net.HardwareAddr{3, 0, 0, 0, 0, 1}}, tap.ErrInvalidMAC, "MAC", "multicast"},
		{"mac zero", tap.Config{MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}}, tap.ErrInvalidMAC, "MAC", "zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := tap.New(tt.cfg)
			if err == nil {
				dev.Close()
				t.Fatal("New accepted the config")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.want)
			}
			var ce *tap.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %#v, want a *ConfigError on %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err %q does not say %q", err, tt.says)
			}
		})
	}
}

func TestMACs(t *testing.T) {
	a, b := tap.StableMAC("node-a/lab"), tap.StableMAC("node-a/lab")
	if a.String() != b.String() {
		t.Errorf("StableMAC not stable: %s, %s", a, b)
	}
	if c := tap.StableMAC("node-b/lab"); c.String() == a.String() {
		t.Errorf("StableMAC equal for different seeds: %s", c)
	}
	for _, mac := range []net.HardwareAddr{a, tap.RandomMAC()} {
		if len(mac) != 6 || mac[0]&0x02 == 0 || mac[0]&0x01 != 0 {
			t.Errorf("%s is not a locally administered unicast MAC", mac)
		}
	}
	if x, y := tap.RandomMAC(), tap.RandomMAC(); x.String() == y.String() {
		t.Errorf("two random MACs are equal: %s", x)
	}
}
