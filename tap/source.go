package tap

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Source is who a port's peer is on the LAN: the only Ethernet source MAC
// its frames may carry, and the only IPs its ARP senders and IPv4 and IPv6
// packets may claim (besides the unspecified address, which DHCP and
// duplicate address detection send from). A frame that claims anything
// else is dropped and counted (PortStats.Spoofed), so a peer cannot make
// the switch send it another's traffic, nor take another's IP in the
// neighbour tables of the device. The zero Source checks nothing.
type Source struct {
	MAC net.HardwareAddr
	IPs []netip.Addr
}

// EtherTypes the source check looks into.
const (
	etherIPv4 = 0x0800
	etherARP  = 0x0806
	etherIPv6 = 0x86dd
	etherVLAN = 0x8100
	etherQinQ = 0x88a8
)

// sourceCheck is a Source made ready for the frame path.
type sourceCheck struct {
	mac [6]byte
	ips []netip.Addr
}

func newSourceCheck(src Source) *sourceCheck {
	if len(src.MAC) != 6 {
		return nil
	}
	c := &sourceCheck{mac: [6]byte(src.MAC)}
	for _, ip := range src.IPs {
		c.ips = append(c.ips, ip.Unmap().WithZone(""))
	}
	return c
}

// ipOK reports whether ip is one the peer may send from.
func (c *sourceCheck) ipOK(ip netip.Addr) bool {
	if ip.IsUnspecified() {
		return true
	}
	for _, a := range c.ips {
		if a == ip {
			return true
		}
	}
	return false
}

// allows reports whether frame (at least an Ethernet header) claims only
// the peer's own addresses. A truncated ARP, IPv4 or IPv6 packet is
// refused: it claims nothing the check could read.
func (c *sourceCheck) allows(frame []byte) bool {
	if [6]byte(frame[6:12]) != c.mac {
		return false
	}
	off := 12
	typ := binary.BigEndian.Uint16(frame[off:])
	for (typ == etherVLAN || typ == etherQinQ) && len(frame) >= off+6 {
		off += 4
		typ = binary.BigEndian.Uint16(frame[off:])
	}
	p := frame[off+2:]
	switch typ {
	case etherVLAN, etherQinQ:
		return false // tags without a payload type
	case etherARP:
		// Ethernet/IPv4 ARP: htype 1, ptype IPv4, hlen 6, plen 4, then
		// the sender's MAC and IP at 8 and 14.
		if len(p) < 28 || binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != etherIPv4 || p[4] != 6 || p[5] != 4 {
			return false
		}
		return [6]byte(p[8:14]) == c.mac && c.ipOK(netip.AddrFrom4([4]byte(p[14:18])))
	case etherIPv4:
		if len(p) < 20 {
			return false
		}
		return c.ipOK(netip.AddrFrom4([4]byte(p[12:16])))
	case etherIPv6:
		if len(p) < 40 {
			return false
		}
		return c.ipOK(netip.AddrFrom16([16]byte(p[8:24])))
	}
	return true
}
