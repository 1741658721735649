package tap

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// ethFrame is an Ethernet frame from src of type typ carrying payload.
func ethFrame(src net.HardwareAddr, typ uint16, payload []byte) []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f = append(f, src...)
	f = binary.BigEndian.AppendUint16(f, typ)
	return append(f, payload...)
}

// arpPayload is an Ethernet/IPv4 ARP request from sha/spa.
func arpPayload(sha net.HardwareAddr, spa string) []byte {
	p := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	p = append(p, sha...)
	p = append(p, netip.MustParseAddr(spa).AsSlice()...)
	p = append(p, make([]byte, 6)...)
	return append(p, 10, 0, 0, 9)
}

// ipv4Payload is an IPv4 header from src.
func ipv4Payload(src string) []byte {
	p := make([]byte, 20)
	p[0] = 0x45
	copy(p[12:], netip.MustParseAddr(src).AsSlice())
	return p
}

// ipv6Payload is an IPv6 header from src.
func ipv6Payload(src string) []byte {
	p := make([]byte, 40)
	p[0] = 0x60
	copy(p[8:], netip.MustParseAddr(src).AsSlice())
	return p
}

// vlan tags a frame's payload type.
func vlan(typ uint16, payload []byte) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{0, 7}, typ), payload...)
}

func TestSourceCheck(t *testing.T) {
	own := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	c := newSourceCheck(Source{MAC: own, IPs: []netip.Addr{
		netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("fe80::1"),
	}})
	tests := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"own mac, other type", ethFrame(own, 0x88cc, make([]byte, 30)), true},
		{"other mac", ethFrame(other, 0x88cc, make([]byte, 30)), false},
		{"other mac, own ip", ethFrame(other, etherIPv4, ipv4Payload("10.99.0.1")), false},
		{"ipv4 from own ip", ethFrame(own, etherIPv4, ipv4Payload("10.99.0.1")), true},
		{"ipv4 from unspecified", ethFrame(own, etherIPv4, ipv4Payload("0.0.0.0")), true},
		{"ipv4 from another ip", ethFrame(own, etherIPv4, ipv4Payload("10.99.0.2")), false},
		{"ipv4 truncated", ethFrame(own, etherIPv4, make([]byte, 19)), false},
		{"arp from own mac and ip", ethFrame(own, etherARP, arpPayload(own, "10.99.0.1")), true},
		{"arp probe", ethFrame(own, etherARP, arpPayload(own, "0.0.0.0")), true},
		{"arp claiming another ip", ethFrame(own, etherARP, arpPayload(own, "10.99.0.2")), false},
		{"arp claiming another mac", ethFrame(own, etherARP, arpPayload(other, "10.99.0.1")), false},
		{"arp truncated", ethFrame(own, etherARP, arpPayload(own, "10.99.0.1")[:20]), false},
		{"arp of another hardware type", ethFrame(own, etherARP, append([]byte{0, 6}, arpPayload(own, "10.99.0.1")[2:]...)), false},
		{"ipv6 from own link-local", ethFrame(own, etherIPv6, ipv6Payload("fe80::1")), true},
		{"ipv6 from unspecified (dad)", ethFrame(own, etherIPv6, ipv6Payload("::")), true},
		{"ipv6 from another", ethFrame(own, etherIPv6, ipv6Payload("fe80::2")), false},
		{"ipv6 truncated", ethFrame(own, etherIPv6, make([]byte, 39)), false},
		{"vlan-tagged ipv4 from another ip", ethFrame(own, etherVLAN, vlan(etherIPv4, ipv4Payload("10.99.0.2"))), false},
		{"vlan-tagged ipv4 from own ip", ethFrame(own, etherVLAN, vlan(etherIPv4, ipv4Payload("10.99.0.1"))), true},
		{"q-in-q arp claiming another ip", ethFrame(own, etherQinQ, vlan(etherVLAN, vlan(etherARP, arpPayload(own, "10.99.0.2")))), false},
		{"tag without payload type", ethFrame(own, etherVLAN, []byte{0, 7}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.allows(tt.frame); got != tt.want {
				t.Errorf("allows = %v, want %v", got, tt.want)
			}
		})
	}
	if newSourceCheck(Source{}) != nil {
		t.Error("the zero Source checks something")
	}
}

// FuzzSourceCheck: no frame makes the check panic.
func FuzzSourceCheck(f *testing.F) {
	own := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	f.Add(ethFrame(own, etherARP, arpPayload(own, "10.99.0.1")))
	f.Add(ethFrame(own, etherVLAN, vlan(etherIPv6, ipv6Payload("fe80::1"))))
	c := newSourceCheck(Source{MAC: own, IPs: []netip.Addr{netip.MustParseAddr("10.99.0.1")}})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < EthHeaderLen {
			return
		}
		c.allows(frame)
	})
}
