package address

import (
	"encoding/base32"
	"fmt"
	"math"
	"net/netip"
	"strconv"
)

// Field names used in ParseError.Field after "item N ".
const (
	fieldExternalIP = "external ip"
	fieldInternalIP = "internal ip"
)

// intField is a numeric field and its allowed range. Parse and Validate
// share these, so the two can never disagree.
type intField struct {
	name   string
	lo, hi int
}

var (
	fieldSignalOffset = intField{"offset", 0, 255}
	fieldNetIfIndex   = intField{"netiface index", 0, math.MaxInt32}
	fieldIfOffset     = intField{"interface offset", 0, 255}
	fieldListenPort   = intField{"listen port", 1, 65535}
	fieldNATType      = intField{"nat type", int(NATOpen), int(NATBlocked)}
	fieldDeltaType    = intField{"delta type", int(DeltaNA), int(DeltaRandom)}
	fieldDeltaValue   = intField{"delta value", 0, 65535}
)

// check returns why n is refused, or "".
func (f intField) check(n int) string {
	if n < f.lo || n > f.hi {
		return fmt.Sprintf("out of range %d..%d", f.lo, f.hi)
	}
	return ""
}

// parse reads a canonical decimal number (no sign, no leading zero) in range.
// It returns the value, or a reason why s is refused.
func (f intField) parse(s string) (int, string) {
	if s == "" {
		return 0, "empty"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, "not a decimal number"
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, "leading zero"
	}
	// 10 digits hold every allowed value (at most 2^31-1) without overflow.
	if len(s) > 10 {
		return 0, fmt.Sprintf("out of range %d..%d", f.lo, f.hi)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, "not a decimal number"
	}
	if r := f.check(n); r != "" {
		return 0, r
	}
	return n, ""
}

// checkIP returns why ip may not appear in a list of the given family, or "".
func checkIP(ip netip.Addr, v6 bool) string {
	switch {
	case !ip.IsValid():
		return "missing"
	case ip.Zone() != "":
		return "has a zone, not allowed"
	case v6 && ip.Is4():
		return "is IPv4, want IPv6"
	case v6 && ip.Is4In6():
		return "is IPv4-mapped IPv6, want plain IPv6"
	case !v6 && !ip.Is4():
		return "is not IPv4"
	}
	return ""
}

const (
	nodeIDLen    = 52 // base32 of 32 bytes, unpadded
	nodeIDBytes  = 32
	machineIDLen = 16
)

var nodeIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// checkNodeID returns why s is not a node ID, or "". The unused low bits of
// the last character must be zero, so each key has exactly one node ID.
func checkNodeID(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) != nodeIDLen {
		return fmt.Sprintf("has %d characters, want %d", len(s), nodeIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '2' && c <= '7':
		case c >= 'A' && c <= 'Z':
			return "has uppercase letters, want lowercase base32"
		default:
			return fmt.Sprintf("character %d %q is not base32 (a-z, 2-7)", i+1, c)
		}
	}
	b, err := nodeIDEncoding.DecodeString(s)
	if err != nil || len(b) != nodeIDBytes {
		return "does not decode to 32 bytes"
	}
	if nodeIDEncoding.EncodeToString(b) != s {
		return "not canonical base32 (last character must be a or q)"
	}
	return ""
}

// checkMachineID returns why s is not a machine ID, or "".
func checkMachineID(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) != machineIDLen {
		return fmt.Sprintf("has %d characters, want %d", len(s), machineIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			return "has uppercase letters, want lowercase hex"
		default:
			return fmt.Sprintf("character %d %q is not hex", i+1, c)
		}
	}
	return ""
}

// Validate checks an address built in code by the same rules Parse applies,
// so that a.String() parses back to a. Every error is a *[ParseError] whose
// Value is the refused value formatted as it would be encoded.
func (a Address) Validate() error {
	if len(a.SignalOffsets) == 0 {
		return &ParseError{Part: PartSignalOffsets, Reason: "empty, want at least one offset"}
	}
	var seen [256]bool
	for i, o := range a.SignalOffsets {
		r := fieldSignalOffset.check(o)
		if r == "" && seen[o] {
			r = "duplicate"
		}
		if r != "" {
			return &ParseError{Part: PartSignalOffsets, Field: fmt.Sprintf("offset %d", i+1), Value: strconv.Itoa(o), Reason: r}
		}
		seen[o] = true
	}
	if err := validateInterfaces(PartIPv4Interfaces, a.IPv4, false); err != nil {
		return err
	}
	if err := validateInterfaces(PartIPv6Interfaces, a.IPv6, true); err != nil {
		return err
	}
	if r := checkNodeID(a.NodeID); r != "" {
		return &ParseError{Part: PartNodeID, Value: a.NodeID, Reason: r}
	}
	if r := checkMachineID(a.MachineID); r != "" {
		return &ParseError{Part: PartMachineID, Value: a.MachineID, Reason: r}
	}
	return nil
}

func validateInterfaces(part string, ifs []Interface, v6 bool) error {
	if len(ifs) > MaxInterfaces {
		return &ParseError{Part: part, Field: "items", Value: string(appendInterfaces(nil, ifs)),
			Reason: fmt.Sprintf("has %d items, at most %d allowed", len(ifs), MaxInterfaces)}
	}
	for i, it := range ifs {
		item := "item " + strconv.Itoa(i+1) + " "
		// In encoding order, so Validate and Parse report the same field first.
		for _, c := range [...]struct{ name, value, reason string }{
			{fieldNetIfIndex.name, strconv.Itoa(it.NetIfIndex), fieldNetIfIndex.check(it.NetIfIndex)},
			{fieldIfOffset.name, strconv.Itoa(it.Offset), fieldIfOffset.check(it.Offset)},
			{fieldExternalIP, ipText(it.ExternalIP), checkIP(it.ExternalIP, v6)},
			{fieldInternalIP, ipText(it.InternalIP), checkIP(it.InternalIP, v6)},
			{fieldListenPort.name, strconv.Itoa(int(it.ListenPort)), fieldListenPort.check(int(it.ListenPort))},
			{fieldNATType.name, strconv.Itoa(int(it.NAT)), fieldNATType.check(int(it.NAT))},
			{fieldDeltaType.name, strconv.Itoa(int(it.Delta)), fieldDeltaType.check(int(it.Delta))},
			{fieldDeltaValue.name, strconv.Itoa(it.DeltaValue), fieldDeltaValue.check(it.DeltaValue)},
		} {
			if c.reason != "" {
				return &ParseError{Part: part, Field: item + c.name, Value: c.value, Reason: c.reason}
			}
		}
	}
	return nil
}

func ipText(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// CheckNodeID returns why s is not a node ID (52 characters, lowercase
// base32 of an Ed25519 public key), or nil.
func CheckNodeID(s string) error {
	if why := checkNodeID(s); why != "" {
		return fmt.Errorf("node ID %q: %s", s, why)
	}
	return nil
}
