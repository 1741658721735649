package natprobe

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/stun/v4"
)

// This file is the pure STUN codec of the prober: requests out, answers in.
// No sockets, no clocks.

const (
	stunHeaderSize = 20
	stunMaxMessage = 1280
	stunSoftware   = "reachd"
)

// change is a CHANGE-REQUEST attribute (RFC 5780 section 7.2); pion/stun has
// the attribute type but no codec for it.
type change struct{ ip, port bool }

// AddTo adds the attribute to m.
func (c change) AddTo(m *stun.Message) error {
	var v [4]byte
	if c.ip {
		v[3] |= 0x04
	}
	if c.port {
		v[3] |= 0x02
	}
	m.Add(stun.AttrChangeRequest, v[:])
	return nil
}

func (c change) String() string {
	switch {
	case c.ip && c.port:
		return "change ip+port"
	case c.ip:
		return "change ip"
	case c.port:
		return "change port"
	}
	return "no change"
}

// newRequest returns an encoded Binding request with a fresh random
// transaction ID, asking for ch when ch asks for anything, with the extra
// attributes.
func newRequest(ch change, extra ...stun.Setter) (*stun.Message, error) {
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
	if ch.ip || ch.port {
		setters = append(setters, ch)
	}
	setters = append(setters, extra...)
	setters = append(setters, stun.NewSoftware(stunSoftware), stun.Fingerprint)
	m, err := stun.Build(setters...)
	if err != nil {
		return nil, fmt.Errorf("natprobe: build binding request: %w", err)
	}
	return m, nil
}

// answer is what a Binding success response tells.
type answer struct {
	Mapped netip.AddrPort // XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
	Other  netip.AddrPort // OTHER-ADDRESS; invalid when absent
	Origin netip.AddrPort // RESPONSE-ORIGIN; invalid when absent
	// DialBack is the DIAL-BACK-RESULT; nil when absent or malformed.
	DialBack *DialBackResult
}

// parseAnswer decodes a Binding response. ok reports whether raw is a STUN
// Binding response at all (so txid is meaningful); err is a *STUNError for
// an error response, ErrBadAnswer for a success response without a usable
// mapped address.
func parseAnswer(raw []byte) (txid [stun.TransactionIDSize]byte, a answer, ok bool, err error) {
	var m stun.Message
	if !stun.IsMessage(raw) || stun.Decode(raw, &m) != nil || m.Type.Method != stun.MethodBinding {
		return txid, a, false, nil
	}
	if m.Contains(stun.AttrFingerprint) && stun.Fingerprint.Check(&m) != nil {
		return txid, a, false, nil
	}
	txid = m.TransactionID
	switch m.Type.Class {
	case stun.ClassSuccessResponse:
	case stun.ClassErrorResponse:
		var e stun.ErrorCodeAttribute
		if e.GetFrom(&m) != nil {
			return txid, a, true, fmt.Errorf("%w: error response without error code", ErrBadAnswer)
		}
		return txid, a, true, &STUNError{Code: int(e.Code), Reason: string(e.Reason)}
	default:
		return txid, a, false, nil
	}
	var xor stun.XORMappedAddress
	if xor.GetFrom(&m) == nil {
		a.Mapped = addrPort(xor.IP, xor.Port)
	} else {
		var mapped stun.MappedAddress
		if mapped.GetFrom(&m) == nil {
			a.Mapped = addrPort(mapped.IP, mapped.Port)
		}
	}
	if !a.Mapped.IsValid() || a.Mapped.Port() == 0 || a.Mapped.Addr().IsUnspecified() {
		return txid, a, true, fmt.Errorf("%w: no mapped address", ErrBadAnswer)
	}
	var other stun.OtherAddress
	if other.GetFrom(&m) == nil {
		if o := addrPort(other.IP, other.Port); o.Port() != 0 && !o.Addr().IsUnspecified() {
			a.Other = o
		}
	}
	var origin stun.ResponseOrigin
	if origin.GetFrom(&m) == nil {
		a.Origin = addrPort(origin.IP, origin.Port)
	}
	var db DialBackResult
	if db.GetFrom(&m) == nil {
		a.DialBack = &db
	}
	return txid, a, true, nil
}

// addrPort converts a decoded attribute; it is invalid when ip is not 4 or
// 16 bytes or port is out of range.
func addrPort(ip net.IP, port int) netip.AddrPort {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port < 0 || port > 0xffff {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port))
}
