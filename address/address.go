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
	b := make([]byte, 0, 160)
	for i, o := range a.SignalOffsets {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(o), 10)
	}
	b = append(b, '-')
	b = appendInterfaces(b, a.IPv4)
	b = append(b, '-')
	b = appendInterfaces(b, a.IPv6)
	b = append(b, '-')
	b = append(b, a.NodeID...)
	b = append(b, '-')
	b = append(b, a.MachineID...)
	return string(b)
}

func appendInterfaces(b []byte, ifs []Interface) []byte {
	if len(ifs) == 0 {
		return append(b, '0')
	}
	for i, it := range ifs {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(it.NetIfIndex), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(it.Offset), 10)
		b = append(b, ',')
		b = it.ExternalIP.AppendTo(b)
		b = append(b, ',')
		b = it.InternalIP.AppendTo(b)
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(it.ListenPort), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(it.NAT), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(it.Delta), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(it.DeltaValue), 10)
		b = append(b, ']')
	}
	return b
}
