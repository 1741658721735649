// Package address encodes and parses reachd peer addresses.
//
// A peer address is one line of text, five parts joined by '-':
//
//	<signal offsets>-<IPv4 interfaces>-<IPv6 interfaces>-<node id>-<machine id>
//
// for example
//
//	0,1-[2,0,203.0.113.2,10.1.0.2,40000,5,2,0]-0-<52-char node id>-0123456789abcdef
//
// Signal offsets are comma-separated indices (0..255, no duplicates) into the
// node's broker list. An interface list is "0" when empty, else one to
// [MaxInterfaces] items "[f1,...,f8]" joined by '|', whose fields are: netiface
// index, interface offset, external IP, internal IP, listen port, NAT type
// code, delta type code and delta value. The node ID is an Ed25519 public key
// in lowercase unpadded base32 (52 characters); the machine ID is 16
// lowercase hex digits.
//
// Parsing is strict: numbers and IPs must be in canonical form, so that for
// every s that parses, Parse(s).String() == s. Every error is a *[ParseError]
// naming the part and field at fault.
//
// The package is a pure codec: it knows nothing about keys, sockets or
// probing, and it does not check that a node ID is a usable Ed25519 key
// (package identity does).
package address

import (
	"net/netip"
	"strconv"
	"strings"
)

// MaxInterfaces is the most interfaces an address lists per IP family.
const MaxInterfaces = 3

// Interface is one network interface of a peer, with what probing found
// about the NAT in front of it.
type Interface struct {
	NetIfIndex int        // OS interface index, 0..2^31-1
	Offset     int        // interface offset, 0..255
	ExternalIP netip.Addr // address seen from outside (STUN)
	InternalIP netip.Addr // address on the interface (IPv6: link-local or global)
	ListenPort uint16     // peer listen port, 1..65535
	NAT        NATType    // NAT class, never NATUnknown in an address
	Delta      DeltaType  // port delta class, never DeltaUnknown in an address
	DeltaValue int        // port delta, 0..65535
}

// Address is a parsed peer address. A nil and an empty interface slice both
// encode as "0"; Parse returns nil for "0".
type Address struct {
	SignalOffsets []int       // indices into the broker list, 1 or more, 0..255, distinct
	IPv4          []Interface // at most MaxInterfaces, IPv4 addresses only
	IPv6          []Interface // at most MaxInterfaces, IPv6 addresses only (no 4-in-6, no zone)
	NodeID        string      // 52 chars, lowercase base32 of the Ed25519 public key
	MachineID     string      // 16 lowercase hex chars
}

// String encodes a. It does not validate: call [Address.Validate] first on
// an address built in code, or the result may not parse.
func (a Address) String() string {
	var b strings.Builder
	b.Grow(128)
	for i, o := range a.SignalOffsets {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(o))
	}
	b.WriteByte('-')
	appendInterfaces(&b, a.IPv4)
	b.WriteByte('-')
	appendInterfaces(&b, a.IPv6)
	b.WriteByte('-')
	b.WriteString(a.NodeID)
	b.WriteByte('-')
	b.WriteString(a.MachineID)
	return b.String()
}

func appendInterfaces(b *strings.Builder, ifs []Interface) {
	if len(ifs) == 0 {
		b.WriteByte('0')
		return
	}
	for i, it := range ifs {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(it.NetIfIndex))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(it.Offset))
		b.WriteByte(',')
		b.WriteString(it.ExternalIP.String())
		b.WriteByte(',')
		b.WriteString(it.InternalIP.String())
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(it.ListenPort)))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(it.NAT)))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(it.Delta)))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(it.DeltaValue))
		b.WriteByte(']')
	}
}
