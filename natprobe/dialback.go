package natprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"
)

// This file is the pure codec of the dial-back extension to STUN, which
// the rendezvous serves and the prober uses to learn whether a listen port
// is reachable from the Internet (like libp2p's AutoNAT). No sockets, no
// clocks.
//
// A client sends a Binding request over TCP with
//
//	DIAL-BACK (0x7DB0, comprehension-required): the address to dial,
//	    encoded as XOR-MAPPED-ADDRESS is. The IP must be the request's own
//	    source IP, or unspecified (0.0.0.0 or ::) for "my source IP"; the
//	    port is the listen port to check.
//	DIAL-BACK-DATA (0x7DB1, comprehension-required, optional): up to
//	    DialBackDataMax bytes the server writes once connected; they must
//	    begin with DialBackMagic (a reachd preamble), so the service cannot
//	    be made to speak another protocol.
//	DIAL-BACK-TIMEOUT (0xFDB1, comprehension-optional, optional): how long
//	    the server should wait for the connection to open, in milliseconds
//	    (2 bytes, big endian); the server caps it at its own limit (2s for
//	    the rendezvous) and uses that limit without it. A client that knows
//	    its round trip to the server asks for a few of them, so a port that
//	    drops SYNs costs less than the full limit.
//
// The server dials, writes the data, reads what comes back within a short
// time, and answers with a Binding success response that carries, next to
// XOR-MAPPED-ADDRESS (the source, which is the address it dialed),
//
//	DIAL-BACK-RESULT (0xFDB0, comprehension-optional): outcome (1 byte),
//	    reserved (1 byte, zero), connect time in milliseconds (2 bytes, big
//	    endian, saturating), then the first bytes read (0 to
//	    DialBackAnswerMax).
//
// Errors: 400 for a malformed request or one over UDP (a UDP source can be
// spoofed, so the server would dial a third party), 403 for a target IP
// that is not the source, 429 when the source or the whole server asks too
// often. A STUN server without the extension answers 420 (unknown
// comprehension-required attribute) or, if it ignores the attribute, a
// success without DIAL-BACK-RESULT: either way the result is unknown.
const (
	AttrDialBack        stun.AttrType = 0x7DB0
	AttrDialBackData    stun.AttrType = 0x7DB1
	AttrDialBackResult  stun.AttrType = 0xFDB0
	AttrDialBackTimeout stun.AttrType = 0xFDB1

	// DialBackMagic begins every DIAL-BACK-DATA.
	DialBackMagic = "RCHD"
	// DialBackDataMax is the longest DIAL-BACK-DATA.
	DialBackDataMax = 128
	// DialBackAnswerMax is the most answer bytes a result carries.
	DialBackAnswerMax = 16

	// CodeRateLimited is the STUN error code of a dial-back request refused
	// because its source (or the server as a whole) asked too often.
	CodeRateLimited stun.ErrorCode = 429
)

// DialBackOutcome is what a dial-back found.
type DialBackOutcome uint8

// Outcomes. The zero value means no dial-back result.
const (
	DialBackNone     DialBackOutcome = iota // "none": no result (server without the extension)
	DialBackAnswered                        // "answered": connected, and bytes came back
	DialBackSilent                          // "silent": connected, but nothing came back in time
	DialBackRefused                         // "refused": the connection was reset
	DialBackTimeout                         // "timeout": no answer to the SYN in time (filtered)
	DialBackFailed                          // "failed": another error (unreachable network, ...)
)

var outcomeNames = [...]string{"none", "answered", "silent", "refused", "timeout", "failed"}

// String returns the outcome's name.
func (o DialBackOutcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("DialBackOutcome(%d)", uint8(o))
}

// MarshalText encodes the outcome as its name.
func (o DialBackOutcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText decodes an outcome name.
func (o *DialBackOutcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if n == string(b) {
			*o = DialBackOutcome(i)
			return nil
		}
	}
	return fmt.Errorf("natprobe: unknown dial-back outcome %q", b)
}

// ErrBadDialBack is a malformed dial-back attribute.
var ErrBadDialBack = errors.New("natprobe: bad dial-back attribute")

// DialBackRequest is what a client asks for: the DIAL-BACK and
// DIAL-BACK-DATA attributes.
type DialBackRequest struct {
	// Target is the address to dial; an unspecified IP means the request's
	// source IP.
	Target netip.AddrPort
	// Data is written once connected; empty or beginning with
	// DialBackMagic, at most DialBackDataMax bytes.
	Data []byte
	// Timeout is how long the server should wait for the connection to
	// open, in whole milliseconds up to 65535; zero leaves it to the
	// server.
	Timeout time.Duration
}

// AddTo adds the request's attributes to m.
func (r DialBackRequest) AddTo(m *stun.Message) error {
	if err := r.check(); err != nil {
		return err
	}
	xa := stun.XORMappedAddress{IP: r.Target.Addr().AsSlice(), Port: int(r.Target.Port())}
	if err := xa.AddToAs(m, AttrDialBack); err != nil {
		return err
	}
	if len(r.Data) > 0 {
		m.Add(AttrDialBackData, r.Data)
	}
	if ms := r.Timeout.Milliseconds(); ms > 0 {
		var v [2]byte
		binary.BigEndian.PutUint16(v[:], uint16(min(ms, 0xffff)))
		m.Add(AttrDialBackTimeout, v[:])
	}
	return nil
}

// GetFrom decodes the request's attributes from m.
func (r *DialBackRequest) GetFrom(m *stun.Message) error {
	var xa stun.XORMappedAddress
	if err := xa.GetFromAs(m, AttrDialBack); err != nil {
		return fmt.Errorf("%w: %w", ErrBadDialBack, err)
	}
	ip, ok := netip.AddrFromSlice(xa.IP)
	if !ok || xa.Port < 0 || xa.Port > 0xffff {
		return fmt.Errorf("%w: bad address", ErrBadDialBack)
	}
	*r = DialBackRequest{Target: netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port))}
	if v, err := m.Get(AttrDialBackData); err == nil {
		r.Data = append([]byte(nil), v...)
	}
	if v, err := m.Get(AttrDialBackTimeout); err == nil {
		if len(v) != 2 {
			return fmt.Errorf("%w: timeout of %d bytes", ErrBadDialBack, len(v))
		}
		r.Timeout = time.Duration(binary.BigEndian.Uint16(v)) * time.Millisecond
	}
	return r.check()
}

func (r DialBackRequest) check() error {
	switch {
	case !r.Target.Addr().IsValid():
		return fmt.Errorf("%w: no target ip", ErrBadDialBack)
	case r.Target.Port() == 0:
		return fmt.Errorf("%w: target port 0", ErrBadDialBack)
	case len(r.Data) > DialBackDataMax:
		return fmt.Errorf("%w: data of %d bytes, at most %d", ErrBadDialBack, len(r.Data), DialBackDataMax)
	case len(r.Data) > 0 && (len(r.Data) < len(DialBackMagic) || string(r.Data[:len(DialBackMagic)]) != DialBackMagic):
		return fmt.Errorf("%w: data must begin with %q", ErrBadDialBack, DialBackMagic)
	}
	return nil
}

// DialBackResult is the server's DIAL-BACK-RESULT.
type DialBackResult struct {
	Outcome DialBackOutcome
	// Connect is how long the connection took to open (whole
	// milliseconds; zero unless it opened).
	Connect time.Duration
	// Answer holds the first bytes read, at most DialBackAnswerMax.
	Answer []byte
}

// AddTo adds the DIAL-BACK-RESULT attribute to m.
func (r DialBackResult) AddTo(m *stun.Message) error {
	if r.Outcome == DialBackNone || int(r.Outcome) >= len(outcomeNames) {
		return fmt.Errorf("%w: outcome %d", ErrBadDialBack, r.Outcome)
	}
	ans := r.Answer[:min(len(r.Answer), DialBackAnswerMax)]
	v := make([]byte, 4, 4+len(ans))
	v[0] = byte(r.Outcome)
	binary.BigEndian.PutUint16(v[2:], uint16(min(r.Connect.Milliseconds(), 0xffff)))
	m.Add(AttrDialBackResult, append(v, ans...))
	return nil
}

// GetFrom decodes the DIAL-BACK-RESULT attribute of m.
func (r *DialBackResult) GetFrom(m *stun.Message) error {
	v, err := m.Get(AttrDialBackResult)
	if err != nil {
		return err
	}
	if len(v) < 4 || len(v) > 4+DialBackAnswerMax {
		return fmt.Errorf("%w: result of %d bytes", ErrBadDialBack, len(v))
	}
	o := DialBackOutcome(v[0])
	if o == DialBackNone || int(o) >= len(outcomeNames) {
		return fmt.Errorf("%w: outcome %d", ErrBadDialBack, v[0])
	}
	*r = DialBackResult{
		Outcome: o,
		Connect: time.Duration(binary.BigEndian.Uint16(v[2:4])) * time.Millisecond,
		Answer:  append([]byte(nil), v[4:]...),
	}
	return nil
}
