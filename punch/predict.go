package punch

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/reachd/reachd/address"
)

// Mapping is one NAT mapping observed with STUN: a connection from local
// port Local was seen from outside with source port External.
type Mapping struct {
	Local    uint16
	External uint16
}

// Mapper observes the external endpoint the NAT gives a TCP connection from
// local, typically with a STUN binding over TCP from that port. The socket
// must be opened with [ReuseControl] so Punch can bind the same port after.
// The node implements it; punch never talks to STUN itself.
type Mapper interface {
	MapTCP(ctx context.Context, local netip.AddrPort) (netip.AddrPort, error)
}

// Predict returns the external port the NAT is expected to give a new
// connection from local port local, given the interface's delta class and
// value and the last mapping observed on it. ok is false when the class
// gives no prediction from what is known:
//
//   - na, equal: the local port (no NAT, or a port-keeping NAT).
//   - preserving: last.External + (local - last.Local).
//   - independent: last.External + value, whatever local is.
//   - dependent: last.External + value, only when local == last.Local+1;
//     callers should pick local that way.
//   - random: last.External, only when last was observed from local itself
//     (pass a fresh observation from a [Mapper]).
//   - unknown and anything else: no prediction.
//
// A value above 32767 is a decrement (65535 means -1), as a port delta in
// 16-bit arithmetic. Results stay in 1..65535: a port that runs past 65535
// continues at 1024, the bottom of the unprivileged range NATs allocate
// from, and one that runs below 1 continues at 65535. A zero last.External
// means nothing was observed.
func Predict(local uint16, delta address.DeltaType, value int, last Mapping) (port uint16, ok bool) {
	switch delta {
	case address.DeltaNA, address.DeltaEqual:
		return local, local != 0
	}
	if last.External == 0 || local == 0 {
		return 0, false
	}
	base := int(last.External)
	switch delta {
	case address.DeltaPreserving:
		if last.Local == 0 {
			return 0, false
		}
		return wrapPort(base + int(local) - int(last.Local)), true
	case address.DeltaIndependent:
		return wrapPort(base + signedDelta(value)), true
	case address.DeltaDependent:
		if last.Local == 0 || int(local) != int(last.Local)+1 {
			return 0, false
		}
		return wrapPort(base + signedDelta(value)), true
	case address.DeltaRandom:
		if last.Local != local {
			return 0, false
		}
		return last.External, true
	default:
		return 0, false
	}
}

// signedDelta reads a 16-bit port delta as signed.
func signedDelta(v int) int {
	v &= 0xffff
	if v > 0x7fff {
		v -= 0x10000
	}
	return v
}

// Ports NATs allocate from when they run past the top.
const (
	lowPort  = 1024
	highPort = 65535
	span     = highPort - lowPort + 1
)

// wrapPort maps p into 1..65535: past the top it continues at 1024, below 1
// it continues down from 65535.
func wrapPort(p int) uint16 {
	switch {
	case p > highPort:
		return uint16(lowPort + (p-highPort-1)%span)
	case p < 1:
		return uint16(highPort - (-p)%span)
	default:
		return uint16(p)
	}
}

// PredictEndpoint predicts the external endpoint the NAT in front of our
// interface ifc gives a TCP connection from local: ifc.ExternalIP with the
// port from [Predict] (using ifc.Delta, ifc.DeltaValue and last, the last
// mapping probing saw on that interface). When the delta class is random, or
// Predict has no answer, it asks m to observe the mapping from local itself
// and returns what m saw; with a nil m that is [ErrUnpredictable].
func PredictEndpoint(ctx context.Context, local netip.AddrPort, ifc address.Interface, last Mapping, m Mapper) (netip.AddrPort, error) {
	if ifc.Delta != address.DeltaRandom && ifc.ExternalIP.IsValid() {
		if p, ok := Predict(local.Port(), ifc.Delta, ifc.DeltaValue, last); ok {
			return netip.AddrPortFrom(ifc.ExternalIP, p), nil
		}
	}
	if m == nil {
		return netip.AddrPort{}, fmt.Errorf("punch: predict mapping of %s (delta %s): %w", local, ifc.Delta, ErrUnpredictable)
	}
	ext, err := m.MapTCP(ctx, local)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("punch: observe mapping of %s: %w", local, err)
	}
	if !ext.IsValid() || ext.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("punch: observe mapping of %s: mapper returned %q: %w", local, ext, ErrUnpredictable)
	}
	return ext, nil
}
