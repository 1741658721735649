package address

import (
	"fmt"
	"strconv"
)

// NATType is the NAT mapping/filtering class of an interface, as found by
// probing with STUN. Its numeric value is the code used in addresses.
type NATType int

// NAT type codes. NATUnknown is never encoded in an address.
const (
	NATUnknown              NATType = 0
	NATOpen                 NATType = 1
	NATSymmetricUDPFirewall NATType = 2
	NATFullCone             NATType = 3
	NATRestrictedCone       NATType = 4
	NATPortRestrictedCone   NATType = 5
	NATSymmetric            NATType = 6
	NATBlocked              NATType = 7
)

var natNames = [...]string{
	NATUnknown:              "unknown",
	NATOpen:                 "open",
	NATSymmetricUDPFirewall: "symmetric_udp_firewall",
	NATFullCone:             "full_cone",
	NATRestrictedCone:       "restricted_cone",
	NATPortRestrictedCone:   "port_restricted_cone",
	NATSymmetric:            "symmetric",
	NATBlocked:              "blocked",
}

// String returns the name of t ("full_cone"), or "NATType(n)" when t is
// not a known value.
func (t NATType) String() string {
	if t >= 0 && int(t) < len(natNames) {
		return natNames[t]
	}
	return "NATType(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText returns the name of t; it fails for values outside the enum.
func (t NATType) MarshalText() ([]byte, error) {
	if t < 0 || int(t) >= len(natNames) {
		return nil, fmt.Errorf("address: marshal nat type: unknown value %d", int(t))
	}
	return []byte(natNames[t]), nil
}

// UnmarshalText accepts exactly the names returned by String.
func (t *NATType) UnmarshalText(b []byte) error {
	for i, n := range natNames {
		if n == string(b) {
			*t = NATType(i)
			return nil
		}
	}
	return fmt.Errorf("address: unmarshal nat type: unknown name %q", b)
}

// DeltaType classifies how a NAT chooses external ports for consecutive
// mappings (the port delta). Its numeric value is the code used in addresses.
type DeltaType int

// Delta type codes. DeltaUnknown is never encoded in an address.
const (
	DeltaUnknown     DeltaType = 0
	DeltaNA          DeltaType = 1 // not applicable (no NAT, or blocked)
	DeltaEqual       DeltaType = 2 // mapped port = local port
	DeltaPreserving  DeltaType = 3 // mapped distance = local distance
	DeltaIndependent DeltaType = 4 // mapped = last mapped + value
	DeltaDependent   DeltaType = 5 // mapped = last mapped + value when local = last local + 1
	DeltaRandom      DeltaType = 6
)

var deltaNames = [...]string{
	DeltaUnknown:     "unknown",
	DeltaNA:          "na",
	DeltaEqual:       "equal",
	DeltaPreserving:  "preserving",
	DeltaIndependent: "independent",
	DeltaDependent:   "dependent",
	DeltaRandom:      "random",
}

// String returns the name of t ("preserving"), or "DeltaType(n)" when t is
// not a known value.
func (t DeltaType) String() string {
	if t >= 0 && int(t) < len(deltaNames) {
		return deltaNames[t]
	}
	return "DeltaType(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText returns the name of t; it fails for values outside the enum.
func (t DeltaType) MarshalText() ([]byte, error) {
	if t < 0 || int(t) >= len(deltaNames) {
		return nil, fmt.Errorf("address: marshal delta type: unknown value %d", int(t))
	}
	return []byte(deltaNames[t]), nil
}

// UnmarshalText accepts exactly the names returned by String.
func (t *DeltaType) UnmarshalText(b []byte) error {
	for i, n := range deltaNames {
		if n == string(b) {
			*t = DeltaType(i)
			return nil
		}
	}
	return fmt.Errorf("address: unmarshal delta type: unknown name %q", b)
}
