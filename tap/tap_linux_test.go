//go:build linux

package tap_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/reachd/reachd/tap"
	"github.com/vishvananda/netlink"
)

// TestNewConfiguresAndCloseRemoves: the device appears with its name, MAC,
// MTU, addresses and up; after Close it is gone.
func TestNewConfiguresAndCloseRemoves(t *testing.T) {
	requireTAP(t)
	n := newNS(t)
	mac := tap.StableMAC("node-a/lab")
	v4 := netip.MustParsePrefix("10.99.0.1/24")
	v6 := netip.MustParsePrefix("fd00:99::1/64")
	dev := n.newTAP(t, tap.Config{Name: "reachtest0", Addrs: []netip.Prefix{v4, v6}, MTU: 1400, MAC: mac})

	if dev.Name() != "reachtest0" || dev.MTU() != 1400 || dev.MAC().String() != mac.String() {
		t.Fatalf("device reports name %q mtu %d mac %s", dev.Name(), dev.MTU(), dev.MAC())
	}
	link, err := n.nl.LinkByName("reachtest0")
	if err != nil {
		t.Fatalf("device not in namespace: %v", err)
	}
	a := link.Attrs()
	if link.Type() != "tuntap" {
		t.Errorf("type %q, want tuntap", link.Type())
	}
	if tt, ok := link.(*netlink.Tuntap); ok && tt.Mode != netlink.TUNTAP_MODE_TAP {
		t.Errorf("mode %v, want tap", tt.Mode)
	}
	if a.MTU != 1400 {
		t.Errorf("kernel MTU %d, want 1400", a.MTU)
	}
	if a.HardwareAddr.String() != mac.String() {
		t.Errorf("kernel MAC %s, want %s", a.HardwareAddr, mac)
	}
	if a.Flags&net.FlagUp == 0 {
		t.Errorf("device is not up: %v", a.Flags)
	}
	addrs, err := n.nl.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ad := range addrs {
		got = append(got, ad.IPNet.String())
	}
	for _, want := range []string{v4.String(), v6.String()} {
		if !slices.Contains(got, want) {
			t.Errorf("addresses %v lack %s", got, want)
		}
	}

	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := n.nl.LinkByName("reachtest0"); err == nil {
		t.Fatal("device still exists after Close")
	}
}

// TestNewDefaults: an empty Config gives a kernel-named "reachN" device,
// MTU 1500, a locally administered unicast MAC, and no addresses.
func TestNewDefaults(t *testing.T) {
	requireTAP(t)
	n := newNS(t)
	dev := n.newTAP(t, tap.Config{})
	dev2 := n.newTAP(t, tap.Config{})
	if !strings.HasPrefix(dev.Name(), "reach") || dev.Name() == dev2.Name() {
		t.Errorf("names %q, %q: want two distinct reachN", dev.Name(), dev2.Name())
	}
	if dev.MTU() != tap.DefaultMTU {
		t.Errorf("MTU %d, want %d", dev.MTU(), tap.DefaultMTU)
	}
	mac := dev.MAC()
	if mac[0]&0x02 == 0 || mac[0]&0x01 != 0 {
		t.Errorf("MAC %s is not locally administered unicast", mac)
	}
	if dev.MAC().String() == dev2.MAC().String() {
		t.Errorf("two random MACs are equal: %s", mac)
	}
	link, err := n.nl.LinkByName(dev.Name())
	if err != nil {
		t.Fatal(err)
	}
	if link.Attrs().MTU != tap.DefaultMTU || link.Attrs().HardwareAddr.String() != mac.String() {
		t.Errorf("kernel has MTU %d MAC %s", link.Attrs().MTU, link.Attrs().HardwareAddr)
	}
}

// TestNewTaken: a name or an address already held by another interface is
// refused with ErrNameTaken / ErrAddrTaken, naming the holder, and leaves
// no device behind.
func TestNewTaken(t *testing.T) {
	requireTAP(t)
	n := newNS(t)
	holder := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "holder0"}}
	if err := n.nl.LinkAdd(holder); err != nil {
		t.Fatal(err)
	}
	held, _ := netlink.ParseAddr("10.99.1.1/24")
	if err := n.nl.AddrAdd(holder, held); err != nil {
		t.Fatal(err)
	}
	n.newTAP(t, tap.Config{Name: "reachtaken0"})

	tests := []struct {
		name string
		cfg  tap.Config
		want error
		says string
	}{
		{"name of a bridge", tap.Config{Name: "holder0"}, tap.ErrNameTaken, "holder0"},
		{"name of a tap", tap.Config{Name: "reachtaken0"}, tap.ErrNameTaken, "reachtaken0"},
		{"address of a bridge", tap.Config{Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.1.1/16")}}, tap.ErrAddrTaken, "holder0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := n.nl.LinkList()
			err := n.do(func() error {
				dev, err := tap.New(tt.cfg)
				if err == nil {
					dev.Close()
				}
				return err
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var te *tap.TakenError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err %q: want a *TakenError naming %s", err, tt.says)
			}
			after, _ := n.nl.LinkList()
			if len(after) != len(before) {
				t.Errorf("links %d before, %d after a refused New", len(before), len(after))
			}
		})
	}
}
