package rendezvous

import (
	"encoding/binary"
	"net/netip"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/natprobe"
)

// This file builds the answers of the STUN server (stun.go serves them).

// stunMagicCookie is the fixed header field of RFC 5389 messages; RFC 3489
// messages carry part of their transaction ID there instead.
const stunMagicCookie = 0x2112A442

// stunUnderstood are the comprehension-required attributes (types below
// 0x8000) that a Binding request may carry and the server understands:
// those of RFC 8489 (the authentication ones are understood and ignored, as
// the server asks for no credentials), CHANGE-REQUEST (RFC 5780) and
// natprobe's dial-back request. Any other one, such as RESPONSE-PORT or
// PADDING (RFC 5780) or RFC 3489's RESPONSE-ADDRESS, is answered with 420
// (RFC 8489 section 6.3.1).
var stunUnderstood = map[stun.AttrType]bool{
	stun.AttrMappedAddress:          true,
	stun.AttrUsername:               true,
	stun.AttrMessageIntegrity:       true,
	stun.AttrErrorCode:              true,
	stun.AttrUnknownAttributes:      true,
	stun.AttrRealm:                  true,
	stun.AttrNonce:                  true,
	stun.AttrMessageIntegritySHA256: true,
	stun.AttrPasswordAlgorithm:      true,
	stun.AttrUserhash:               true,
	stun.AttrXORMappedAddress:       true,
	stun.AttrChangeRequest:          true,
	natprobe.AttrDialBack:           true,
	natprobe.AttrDialBackData:       true,
}

// rfc3489Request reports whether b is a Binding request of an RFC 3489
// client: no magic cookie, so its 16-byte transaction ID starts where the
// cookie would be. If it is, it returns those first 4 bytes and puts the
// magic cookie in their place, so that b decodes as an RFC 5389 message;
// the answer gets them back (see classicAnswer).
func rfc3489Request(b []byte) (cookie [4]byte, ok bool) {
	if len(b) < stunHeaderSize || binary.BigEndian.Uint16(b[0:2]) != stun.BindingRequest.Value() {
		return cookie, false
	}
	if size := int(binary.BigEndian.Uint16(b[2:4])); size%4 != 0 || stunHeaderSize+size != len(b) {
		return cookie, false
	}
	copy(cookie[:], b[4:8])
	binary.BigEndian.PutUint32(b[4:8], stunMagicCookie)
	return cookie, true
}

// classicAnswer turns an answer built by answer for an RFC 3489 request
// back into one for that request: the first 4 bytes of its transaction ID
// where RFC 5389 has the magic cookie (RFC 5389 section 12.2).
func classicAnswer(resp *stun.Message, cookie [4]byte) {
	copy(resp.Raw[4:8], cookie[:])
}

// addrAttr adds an address attribute in the MAPPED-ADDRESS format under
// another type (RFC 3489's SOURCE-ADDRESS and CHANGED-ADDRESS).
type addrAttr struct {
	typ stun.AttrType
	ap  netip.AddrPort
}

func (a addrAttr) AddTo(m *stun.Message) error {
	ma := stun.MappedAddress{IP: a.ap.Addr().AsSlice(), Port: int(a.ap.Port())}
	return ma.AddToAs(m, a.typ)
}

// answer builds the response to req, received from src on local, and
// returns the address to send it from. ok is false when req is to be
// dropped (not a Binding request, bad fingerprint). classic marks a request
// of an RFC 3489 client (see rfc3489Request): its success answer carries
// MAPPED-ADDRESS, SOURCE-ADDRESS and, with a second IP, CHANGED-ADDRESS,
// and no FINGERPRINT, as RFC 3489 clients expect. extra are added to an RFC
// 5389 success response.
func (s *STUNServer) answer(req *stun.Message, src, local netip.AddrPort, udp, classic bool, extra ...stun.Setter) (resp *stun.Message, from netip.AddrPort, ok bool) {
	if req.Type != stun.BindingRequest || req.Raw[0]&0xc0 != 0 { // STUN's first two bits are 0
		return nil, netip.AddrPort{}, false
	}
	if !classic && req.Contains(stun.AttrFingerprint) && stun.Fingerprint.Check(req) != nil {
		return nil, netip.AddrPort{}, false
	}
	fail := func(code stun.ErrorCode, unknown stun.UnknownAttributes, reason ...byte) (*stun.Message, netip.AddrPort, bool) {
		return s.errorResponse(req, code, unknown, classic, reason...), local, true
	}
	if udp && req.Contains(natprobe.AttrDialBack) {
		// A UDP source can be spoofed: the dial would go to a third party.
		return fail(stun.CodeBadRequest, nil, []byte("dial-back only over tcp")...)
	}
	var unknown stun.UnknownAttributes
	for _, a := range req.Attributes {
		if a.Type < 0x8000 && !stunUnderstood[a.Type] {
			unknown = append(unknown, a.Type)
		}
	}
	if len(unknown) > 0 {
		return fail(stun.CodeUnknownAttribute, unknown)
	}
	from = local
	if v, err := req.Get(stun.AttrChangeRequest); err == nil {
		if len(v) != 4 {
			return fail(stun.CodeBadRequest, nil)
		}
		flags := binary.BigEndian.Uint32(v)
		changeIP, changePort := flags&stunChangeIP != 0, flags&stunChangePort != 0
		switch {
		case !changeIP && !changePort:
			// RFC 5780 section 6.1: an ordinary Binding request, over TCP
			// too (stuntman's client always sends one).
		case !udp || (changeIP && !s.twoIPs) || (changePort && !s.other.IsValid()):
			// Over TCP the answer cannot come from elsewhere; with one IP
			// or one port there is no elsewhere to send it from.
			return fail(stun.CodeUnknownAttribute, stun.UnknownAttributes{stun.AttrChangeRequest})
		default:
			from = s.flip(local, changeIP, changePort)
		}
	}

	srcIP := src.Addr().Unmap()
	setters := []stun.Setter{
		stun.BindingSuccess,
		stun.NewTransactionIDSetter(req.TransactionID),
		&stun.MappedAddress{IP: srcIP.AsSlice(), Port: int(src.Port())},
	}
	// OTHER-ADDRESS only with a second IP: RFC 5780 forbids it to a server
	// with one, whose second port serves port changes all the same.
	var other netip.AddrPort
	if s.twoIPs {
		other = s.flip(local, true, true)
	}
	if classic {
		if !from.Addr().IsUnspecified() {
			setters = append(setters, addrAttr{stun.AttrSourceAddress, from})
		}
		if other.IsValid() {
			setters = append(setters, addrAttr{stun.AttrChangedAddress, other})
		}
	} else {
		setters = append(setters, &stun.XORMappedAddress{IP: srcIP.AsSlice(), Port: int(src.Port())})
		if !from.Addr().IsUnspecified() {
			setters = append(setters, &stun.ResponseOrigin{IP: from.Addr().AsSlice(), Port: int(from.Port())})
		}
		if other.IsValid() {
			setters = append(setters, &stun.OtherAddress{IP: other.Addr().AsSlice(), Port: int(other.Port())})
		}
		setters = append(setters, extra...)
		setters = append(setters, stun.NewSoftware(stunSoftware), stun.Fingerprint)
	}
	resp = new(stun.Message)
	if err := resp.Build(setters...); err != nil {
		s.log.Debug("build response", "err", err)
		return nil, netip.AddrPort{}, false
	}
	return resp, from, true
}

// errorResponse builds a Binding error response to req; classic leaves out
// what RFC 3489 clients do not know (SOFTWARE, FINGERPRINT).
func (s *STUNServer) errorResponse(req *stun.Message, code stun.ErrorCode, unknown stun.UnknownAttributes, classic bool, reason ...byte) *stun.Message {
	var codeAttr stun.Setter = code
	if len(reason) > 0 {
		codeAttr = &stun.ErrorCodeAttribute{Code: code, Reason: reason}
	}
	setters := []stun.Setter{
		stun.BindingError,
		stun.NewTransactionIDSetter(req.TransactionID),
		codeAttr,
	}
	if unknown != nil {
		setters = append(setters, unknown)
	}
	if !classic {
		setters = append(setters, stun.NewSoftware(stunSoftware), stun.Fingerprint)
	}
	resp := new(stun.Message)
	if err := resp.Build(setters...); err != nil {
		s.log.Debug("build error response", "err", err)
	}
	return resp
}

// flip returns the served address that differs from local in the IP
// and/or port, as asked. The caller checks that such an address exists.
func (s *STUNServer) flip(local netip.AddrPort, ip, port bool) netip.AddrPort {
	a, p := local.Addr(), local.Port()
	if ip {
		a = s.primary.Addr()
		if local.Addr() == s.primary.Addr() {
			a = s.other.Addr()
		}
	}
	if port {
		p = s.primary.Port()
		if local.Port() == s.primary.Port() {
			p = s.other.Port()
		}
	}
	return netip.AddrPortFrom(a, p)
}
