package natprobe

import (
	"fmt"
	"strconv"
)

// Behavior is a NAT mapping or filtering behaviour in the terms of RFC 4787
// and RFC 5780. It marshals to its name in JSON.
type Behavior int

// Behaviours. BehaviorUnknown means a test was run but was inconclusive (no
// answer, or a server that does not support it); BehaviorUntested means the
// test is impossible with the protocol or the configured servers.
const (
	BehaviorUnknown              Behavior = iota // "unknown"
	BehaviorUntested                             // "untested"
	BehaviorEndpointIndependent                  // "endpoint_independent"
	BehaviorAddressDependent                     // "address_dependent"
	BehaviorAddressPortDependent                 // "address_port_dependent"
)

var behaviorNames = [...]string{
	BehaviorUnknown:              "unknown",
	BehaviorUntested:             "untested",
	BehaviorEndpointIndependent:  "endpoint_independent",
	BehaviorAddressDependent:     "address_dependent",
	BehaviorAddressPortDependent: "address_port_dependent",
}

// String returns the name of b, or "Behavior(n)" for values outside the enum.
func (b Behavior) String() string {
	if b >= 0 && int(b) < len(behaviorNames) {
		return behaviorNames[b]
	}
	return "Behavior(" + strconv.Itoa(int(b)) + ")"
}

// MarshalText returns the name of b; it fails for values outside the enum.
func (b Behavior) MarshalText() ([]byte, error) {
	if b < 0 || int(b) >= len(behaviorNames) {
		return nil, fmt.Errorf("natprobe: marshal behavior: unknown value %d", int(b))
	}
	return []byte(behaviorNames[b]), nil
}

// UnmarshalText accepts exactly the names returned by String.
func (b *Behavior) UnmarshalText(text []byte) error {
	for i, n := range behaviorNames {
		if n == string(text) {
			*b = Behavior(i)
			return nil
		}
	}
	return fmt.Errorf("natprobe: unmarshal behavior: unknown name %q", text)
}
