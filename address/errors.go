package address

import (
	"fmt"
	"strings"
)

// Names of the parts of an address, as used in [ParseError.Part].
const (
	PartAddress        = "address"
	PartSignalOffsets  = "signal offsets"
	PartIPv4Interfaces = "ipv4 interfaces"
	PartIPv6Interfaces = "ipv6 interfaces"
	PartNodeID         = "node id"
	PartMachineID      = "machine id"
)

// ParseError is the only error type returned by [Parse] and [Address.Validate].
// It names the part of the address, the field within it (empty when the
// whole part is wrong), the offending value and why it was refused.
type ParseError struct {
	Part   string // one of the Part* constants
	Field  string // e.g. "offset 2" or "item 2 listen port"; empty for the whole part
	Value  string // the text (or, from Validate, the value) that was refused
	Reason string // why, e.g. "out of range 1..65535"
}

// maxErrValue bounds how much of a refused value Error repeats.
const maxErrValue = 80

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("address: ")
	b.WriteString(e.Part)
	if e.Field != "" {
		b.WriteByte(' ')
		b.WriteString(e.Field)
	}
	v := e.Value
	if len(v) > maxErrValue {
		v = v[:maxErrValue] + "..."
	}
	fmt.Fprintf(&b, " %q: %s", v, e.Reason)
	return b.String()
}
