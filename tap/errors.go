package tap

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the errors returned by
// New and Pump wrap them with what was being done.
var (
	// ErrUnsupported: TAP devices are not implemented on this system.
	// It wraps errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("tap: TAP devices are only supported on Linux: %w", errors.ErrUnsupported)

	// ErrPermission: the process may not create or configure network
	// devices: it lacks CAP_NET_ADMIN (root has it), or may not open
	// /dev/net/tun (the file's mode; usually 0666).
	ErrPermission = errors.New("tap: permission denied")

	// ErrNoTUN: the TUN/TAP driver is missing (no /dev/net/tun, or the
	// tun module is not loaded).
	ErrNoTUN = errors.New("tap: /dev/net/tun is not available (tun driver missing or not loaded)")

	// ErrNameTaken: an interface with the requested name already exists.
	ErrNameTaken = errors.New("tap: interface name is taken")

	// ErrAddrTaken: a requested address is already on another interface.
	ErrAddrTaken = errors.New("tap: address is taken")

	// ErrInvalidName, ErrInvalidAddr, ErrInvalidMTU and ErrInvalidMAC are the
	// causes a *ConfigError carries; they are reported before New touches
	// the system.
	ErrInvalidName = errors.New("tap: invalid interface name")
	ErrInvalidAddr = errors.New("tap: invalid address")
	ErrInvalidMTU  = errors.New("tap: invalid MTU")
	ErrInvalidMAC  = errors.New("tap: invalid MAC address")

	// ErrFrameTooLarge: a frame was longer than the receiver's buffer or the
	// device's MTU allows. It is not fatal: the frame is skipped and counted.
	ErrFrameTooLarge = errors.New("tap: frame too large")

	// ErrSwitchClosed: AddPort on a Switch that has ended.
	ErrSwitchClosed = errors.New("tap: switch closed")

	// ErrMalformedFrame: a length prefix that cannot be a frame. The stream
	// cannot be resynchronised after it, so it is fatal for the link.
	ErrMalformedFrame = errors.New("tap: malformed frame length prefix")
)

// ConfigError reports a Config field that New refused. It unwraps to one of
// ErrInvalidName, ErrInvalidAddr, ErrInvalidMTU or ErrInvalidMAC.
type ConfigError struct {
	Field  string // the Config field: "Name", "Addrs", "MTU", "MAC"
	Value  string // the refused value, as text
	Reason string // what is wrong with it
	Err    error  // the sentinel
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("tap: invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// TakenError reports a name or address that is already in use on this
// host. It unwraps to ErrNameTaken or ErrAddrTaken.
type TakenError struct {
	What  string // "name" or "address"
	Value string // the requested name or address
	By    string // the interface holding it, when known
	Err   error  // ErrNameTaken or ErrAddrTaken
}

func (e *TakenError) Error() string {
	if e.By != "" && e.By != e.Value {
		return fmt.Sprintf("tap: %s %s is taken by interface %s", e.What, e.Value, e.By)
	}
	return fmt.Sprintf("tap: %s %s is taken", e.What, e.Value)
}

func (e *TakenError) Unwrap() error { return e.Err }

// FrameSizeError reports a frame longer than allowed. With Malformed set it
// came from a length prefix that no valid frame can have (fatal for the
// stream) and unwraps to ErrMalformedFrame; otherwise the frame was skipped
// and it unwraps to ErrFrameTooLarge.
type FrameSizeError struct {
	Len       int  // the frame length (from the prefix, or read)
	Max       int  // the largest length allowed there
	Malformed bool // the length prefix itself is invalid
}

func (e *FrameSizeError) Error() string {
	if e.Malformed {
		return fmt.Sprintf("tap: malformed frame length prefix %d (want 1..%d)", e.Len, e.Max)
	}
	return fmt.Sprintf("tap: frame of %d bytes exceeds %d, dropped", e.Len, e.Max)
}

func (e *FrameSizeError) Unwrap() error {
	if e.Malformed {
		return ErrMalformedFrame
	}
	return ErrFrameTooLarge
}
