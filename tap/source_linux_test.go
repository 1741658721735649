//go:build linux

package tap_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachd/reachd/tap"
)

// arpFrame is a broadcast ARP request whose Ethernet source is src and
// whose sender is sha at spa.
func arpFrame(src, sha net.HardwareAddr, spa netip.Addr) []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f = append(f, src...)
	f = append(f, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	f = append(f, sha...)
	f = append(f, spa.AsSlice()...)
	f = append(f, make([]byte, 6)...)
	return append(f, 10, 99, 11, 1)
}

// udpFrame is an IPv4 UDP frame from src at srcIP to dst.
func udpFrame(src, dst net.HardwareAddr, srcIP, dstIP netip.Addr) []byte {
	f := append(slices.Clone([]byte(dst)), src...)
	f = append(f, 0x08, 0x00)
	ip := make([]byte, 28)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 28)
	copy(ip[12:], srcIP.AsSlice())
	copy(ip[16:], dstIP.AsSlice())
	binary.BigEndian.PutUint16(ip[20:], 9)
	binary.BigEndian.PutUint16(ip[22:], 9)
	binary.BigEndian.PutUint16(ip[24:], 8)
	return append(f, ip...)
}

// TestSwitchPortSource: a port added with its peer's Source drops, and
// counts, the frames that claim another member's MAC or IP; the switch
// learns no MAC from them, so the device's frames to that member do not
// go to the spoofing port; SetPortSource moves what the port may claim.
func TestSwitchPortSource(t *testing.T) {
	requireTAP(t)
	a := newMember(t, "a", "10.99.11.1")
	mMAC, bMAC := tap.StableMAC("m"), tap.StableMAC("b")
	mIP, bIP := netip.MustParseAddr("10.99.11.3"), netip.MustParseAddr("10.99.11.2")
	theirs, ours := framerPair(t)
	if err := a.sw.AddPortFrom("m", ours, tap.Source{MAC: mMAC, IPs: []netip.Addr{mIP}}); err != nil {
		t.Fatal(err)
	}
	spoofs := [][]byte{
		arpFrame(bMAC, bMAC, bIP),                                              // b's MAC
		arpFrame(mMAC, mMAC, bIP),                                              // b's IP in ARP
		udpFrame(mMAC, a.dev.MAC(), bIP, a.ip),                                 // b's IP in IPv4
		udpFrame(bMAC, a.dev.MAC(), bIP, a.ip),                                 // both
		arpFrame(mMAC, bMAC, mIP),                                              // b's MAC as ARP sender
		udpFrame(mMAC, a.dev.MAC(), netip.MustParseAddr("10.99.11.200"), a.ip), // a free IP
	}
	for _, f := range spoofs {
		if err := theirs.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	// An honest frame last: once it is counted, every spoof was judged.
	if err := theirs.WriteFrame(arpFrame(mMAC, mMAC, mIP)); err != nil {
		t.Fatal(err)
	}
	p := waitPort(t, a, "m", func(p tap.PortStats) bool { return p.FramesIn >= 1 })
	if p.Spoofed != uint64(len(spoofs)) || p.FramesIn != 1 {
		t.Errorf("port m: %d spoofed, %d in; want %d spoofed, 1 in", p.Spoofed, p.FramesIn, len(spoofs))
	}
	if len(p.MACs) != 1 || p.MACs[0].String() != mMAC.String() {
		t.Errorf("port m learned %v, want only %s", p.MACs, mMAC)
	}

	// The member's address moved: its new IP passes, the old one not.
	newIP := netip.MustParseAddr("10.99.11.4")
	if !a.sw.SetPortSource("m", tap.Source{MAC: mMAC, IPs: []netip.Addr{newIP}}) {
		t.Fatal("SetPortSource: no port m")
	}
	if a.sw.SetPortSource("nobody", tap.Source{}) {
		t.Error("SetPortSource of a missing port reported true")
	}
	theirs.WriteFrame(arpFrame(mMAC, mMAC, mIP))
	theirs.WriteFrame(arpFrame(mMAC, mMAC, newIP))
	p = waitPort(t, a, "m", func(p tap.PortStats) bool { return p.FramesIn >= 2 })
	if p.Spoofed != uint64(len(spoofs))+1 || p.FramesIn != 2 {
		t.Errorf("after the move: %d spoofed, %d in; want %d, 2", p.Spoofed, p.FramesIn, len(spoofs)+1)
	}
}

// waitPort waits until port id of m satisfies ok.
func waitPort(t *testing.T, m *member, id string, ok func(tap.PortStats) bool) tap.PortStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, found := m.port(id)
		if found && ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s: %+v", id, p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
