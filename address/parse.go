package address

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Parse parses a peer address. Every error is a *[ParseError].
func Parse(s string) (Address, error) {
	// Count before splitting, so that junk input costs no allocations.
	if n := strings.Count(s, "-") + 1; n != 5 {
		return Address{}, &ParseError{Part: PartAddress, Value: s,
			Reason: fmt.Sprintf("has %d parts separated by '-', want 5", n)}
	}
	parts := strings.Split(s, "-")
	var a Address
	var err error
	if a.SignalOffsets, err = parseOffsets(parts[0]); err != nil {
		return Address{}, err
	}
	if a.IPv4, err = parseInterfaces(PartIPv4Interfaces, parts[1], false); err != nil {
		return Address{}, err
	}
	if a.IPv6, err = parseInterfaces(PartIPv6Interfaces, parts[2], true); err != nil {
		return Address{}, err
	}
	if r := checkNodeID(parts[3]); r != "" {
		return Address{}, &ParseError{Part: PartNodeID, Value: parts[3], Reason: r}
	}
	a.NodeID = parts[3]
	if r := checkMachineID(parts[4]); r != "" {
		return Address{}, &ParseError{Part: PartMachineID, Value: parts[4], Reason: r}
	}
	a.MachineID = parts[4]
	return a, nil
}

func parseOffsets(s string) ([]int, error) {
	if s == "" {
		return nil, &ParseError{Part: PartSignalOffsets, Reason: "empty, want at least one offset"}
	}
	var offs []int
	var seen [256]bool
	for i := 1; ; i++ {
		f, rest, more := strings.Cut(s, ",")
		n, r := fieldSignalOffset.parse(f)
		if r == "" && seen[n] {
			r = "duplicate"
		}
		if r != "" {
			return nil, &ParseError{Part: PartSignalOffsets, Field: fmt.Sprintf("offset %d", i), Value: f, Reason: r}
		}
		seen[n] = true
		offs = append(offs, n)
		if !more {
			return offs, nil
		}
		s = rest
	}
}

func parseInterfaces(part, s string, v6 bool) ([]Interface, error) {
	switch s {
	case "":
		return nil, &ParseError{Part: part, Reason: "empty, want 0 for no interfaces"}
	case "0":
		return nil, nil
	}
	if n := strings.Count(s, "|") + 1; n > MaxInterfaces {
		return nil, &ParseError{Part: part, Field: "items", Value: s,
			Reason: fmt.Sprintf("has %d items, at most %d allowed", n, MaxInterfaces)}
	}
	items := strings.Split(s, "|")
	ifs := make([]Interface, 0, len(items))
	for i, item := range items {
		it, err := parseInterface(part, i+1, item, v6)
		if err != nil {
			return nil, err
		}
		ifs = append(ifs, it)
	}
	return ifs, nil
}

func parseInterface(part string, n int, item string, v6 bool) (Interface, error) {
	itemName := "item " + strconv.Itoa(n)
	if len(item) < 2 || item[0] != '[' || item[len(item)-1] != ']' {
		return Interface{}, &ParseError{Part: part, Field: itemName, Value: item, Reason: "not enclosed in [ ]"}
	}
	inner := item[1 : len(item)-1]
	if n := strings.Count(inner, ",") + 1; n != 8 {
		return Interface{}, &ParseError{Part: part, Field: itemName, Value: item,
			Reason: fmt.Sprintf("has %d fields, want 8", n)}
	}
	f := strings.Split(inner, ",")

	// The helpers keep the first error; later fields are not looked at.
	var err error
	fail := func(name, value, reason string) {
		if err == nil {
			err = &ParseError{Part: part, Field: itemName + " " + name, Value: value, Reason: reason}
		}
	}
	num := func(fd intField, s string) int {
		if err != nil {
			return 0
		}
		v, r := fd.parse(s)
		if r != "" {
			fail(fd.name, s, r)
		}
		return v
	}
	ip := func(name, s string) netip.Addr {
		if err != nil {
			return netip.Addr{}
		}
		a, r := parseIP(s, v6)
		if r != "" {
			fail(name, s, r)
		}
		return a
	}
	// Operands are evaluated left to right, so fields are checked in order.
	it := Interface{
		NetIfIndex: num(fieldNetIfIndex, f[0]),
		Offset:     num(fieldIfOffset, f[1]),
		ExternalIP: ip(fieldExternalIP, f[2]),
		InternalIP: ip(fieldInternalIP, f[3]),
		ListenPort: uint16(num(fieldListenPort, f[4])),
		NAT:        NATType(num(fieldNATType, f[5])),
		Delta:      DeltaType(num(fieldDeltaType, f[6])),
		DeltaValue: num(fieldDeltaValue, f[7]),
	}
	if err != nil {
		return Interface{}, err
	}
	return it, nil
}

// parseIP parses an IP of the family of the list and requires the canonical
// text, so that encoding gives back s. It returns a reason when s is refused.
func parseIP(s string, v6 bool) (netip.Addr, string) {
	if s == "" {
		return netip.Addr{}, "empty"
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, "not an IP address"
	}
	if r := checkIP(ip, v6); r != "" {
		return netip.Addr{}, r
	}
	if c := ip.String(); c != s {
		return netip.Addr{}, fmt.Sprintf("not in canonical form %q", c)
	}
	return ip, ""
}
