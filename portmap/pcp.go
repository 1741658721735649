package portmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// This file is the pure codec of the Port Control Protocol (RFC 6887):
// the common request and response headers (section 7) and the MAP and
// ANNOUNCE opcodes (sections 11 and 14.1). No sockets, no clocks.
//
// A request is a 24-byte header followed by the opcode's payload:
//
//	version (1) = 2 | R=0, opcode (7 bits) | reserved (2)
//	requested lifetime (4, seconds)
//	client's IP address (16, IPv4 as ::ffff:a.b.c.d)
//
// A response has the same length and the header
//
//	version (1) | R=1, opcode (7 bits) | reserved (1) | result code (1)
//	lifetime (4) | epoch time (4) | reserved (12)
//
// MAP's payload (36 bytes, the same layout both ways): mapping nonce (12),
// protocol (1, IANA number), reserved (3), internal port (2), suggested or
// assigned external port (2), suggested or assigned external IP (16).
// ANNOUNCE has no payload. Options are neither sent nor read.

// PCP constants.
const (
	pcpVersion     = 2
	pcpPort        = 5351 // the server's port (and NAT-PMP's)
	pcpOpAnnounce  = 0
	pcpOpMap       = 1
	pcpOpReply     = 0x80 // the R bit
	pcpHeaderLen   = 24
	pcpMapLen      = 36
	pcpMaxMessage  = 1100 // the largest PCP message (section 7)
	pcpProtoTCP    = 6
	pcpProtoUDP    = 17
	pcpNonceLength = 12
)

// PCPResult is a PCP response's result code (RFC 6887 section 7.4).
type PCPResult uint8

// Result codes.
const (
	PCPSuccess           PCPResult = 0
	PCPUnsuppVersion     PCPResult = 1
	PCPNotAuthorized     PCPResult = 2
	PCPMalformedRequest  PCPResult = 3
	PCPUnsuppOpcode      PCPResult = 4
	PCPUnsuppOption      PCPResult = 5
	PCPMalformedOption   PCPResult = 6
	PCPNetworkFailure    PCPResult = 7
	PCPNoResources       PCPResult = 8
	PCPUnsuppProtocol    PCPResult = 9
	PCPUserExQuota       PCPResult = 10
	PCPCannotProvideExt  PCPResult = 11
	PCPAddressMismatch   PCPResult = 12
	PCPExcessRemotePeers PCPResult = 13
)

var pcpResultNames = [...]string{
	"success", "unsupported version", "not authorized", "malformed request",
	"unsupported opcode", "unsupported option", "malformed option", "network failure",
	"no resources", "unsupported protocol", "user exceeded quota",
	"cannot provide external", "address mismatch", "excessive remote peers",
}

func (r PCPResult) String() string {
	if int(r) < len(pcpResultNames) {
		return pcpResultNames[r]
	}
	return fmt.Sprintf("result %d", uint8(r))
}

// pcpMap is a MAP request's or response's fields.
type pcpMap struct {
	Nonce    [pcpNonceLength]byte
	Protocol uint8 // pcpProtoTCP or pcpProtoUDP
	Internal uint16
	External netip.AddrPort // suggested (request) or assigned (response)
}

// pcpResponse is a decoded PCP response.
type pcpResponse struct {
	Opcode   uint8 // without the R bit
	Result   PCPResult
	Lifetime uint32 // seconds
	Epoch    uint32 // the server's epoch time, seconds
	Map      pcpMap // for MAP
}

// appendPCPHeader appends a request header.
func appendPCPHeader(b []byte, op uint8, lifetime uint32, client netip.Addr) []byte {
	b = append(b, pcpVersion, op, 0, 0)
	b = binary.BigEndian.AppendUint32(b, lifetime)
	ip := client.Unmap().As16() // IPv4 as ::ffff:a.b.c.d
	return append(b, ip[:]...)
}

// encodePCPAnnounce is an ANNOUNCE request from client: it creates
// nothing, and a PCP server answers it with its epoch.
func encodePCPAnnounce(client netip.Addr) []byte {
	return appendPCPHeader(make([]byte, 0, pcpHeaderLen), pcpOpAnnounce, 0, client)
}

// encodePCPMap is a MAP request from client asking lifetime seconds (zero
// deletes the mapping).
func encodePCPMap(client netip.Addr, lifetime uint32, m pcpMap) []byte {
	b := appendPCPHeader(make([]byte, 0, pcpHeaderLen+pcpMapLen), pcpOpMap, lifetime, client)
	b = append(b, m.Nonce[:]...)
	b = append(b, m.Protocol, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, m.Internal)
	b = binary.BigEndian.AppendUint16(b, m.External.Port())
	// No suggestion is the family's all-zeros address: :: for IPv6,
	// ::ffff:0.0.0.0 for IPv4 (section 11.1).
	ext := m.External.Addr().Unmap()
	if !ext.IsValid() {
		ext = netip.IPv4Unspecified()
		if client.Unmap().Is6() {
			ext = netip.IPv6Unspecified()
		}
	}
	e := ext.As16()
	return append(b, e[:]...)
}

// Errors of decodePCP.
var (
	errPCPShort   = errors.New("pcp: message too short")
	errPCPVersion = errors.New("pcp: not version 2")
	errPCPRequest = errors.New("pcp: a request, not a response")
)

// decodePCP parses a PCP response. A response whose result is not
// success still decodes; its MAP payload is read only on success.
func decodePCP(b []byte) (pcpResponse, error) {
	var r pcpResponse
	switch {
	case len(b) < 2:
		return r, errPCPShort
	case b[0] != pcpVersion:
		// A NAT-PMP-only server answers version 0 with UNSUPP_VERSION in
		// its own format (RFC 6887 section 9).
		return r, fmt.Errorf("%w (version %d)", errPCPVersion, b[0])
	case b[1]&pcpOpReply == 0:
		return r, errPCPRequest
	case len(b) < pcpHeaderLen, len(b) > pcpMaxMessage, len(b)%4 != 0:
		return r, fmt.Errorf("%w (%d bytes)", errPCPShort, len(b))
	}
	r.Opcode = b[1] &^ pcpOpReply
	r.Result = PCPResult(b[3])
	r.Lifetime = binary.BigEndian.Uint32(b[4:8])
	r.Epoch = binary.BigEndian.Uint32(b[8:12])
	if r.Opcode != pcpOpMap || r.Result != PCPSuccess {
		return r, nil
	}
	p := b[pcpHeaderLen:]
	if len(p) < pcpMapLen {
		return r, fmt.Errorf("%w: map payload of %d bytes", errPCPShort, len(p))
	}
	copy(r.Map.Nonce[:], p[:pcpNonceLength])
	r.Map.Protocol = p[12]
	r.Map.Internal = binary.BigEndian.Uint16(p[16:18])
	ip := netip.AddrFrom16([16]byte(p[20:36])).Unmap()
	r.Map.External = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(p[18:20]))
	return r, nil
}
