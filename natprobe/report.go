package natprobe

import (
	"net/netip"
	"time"

	"github.com/reachd/reachd/address"
)

// Report is the outcome of one Probe. It marshals to the JSON the REST API
// serves.
type Report struct {
	Interfaces []Interface `json:"interfaces"`
	// Error says why no interface could be probed (listing them failed).
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Interface is one local address of one network interface and what probing
// found behind it, per transport protocol.
type Interface struct {
	Name  string     `json:"name"`
	Index int        `json:"index"`
	IP    netip.Addr `json:"ip"`
	// UDP is corrected by the dial-back checks too (see ApplyReachUDP).
	UDP Result `json:"udp"`
	// TCP is corrected by the dial-back checks (see ApplyReach).
	TCP Result `json:"tcp"`
	// Reach is the reachability of the listen port, from dial-back checks.
	Reach Reach `json:"reach"`
}

// Result is what probing found for one local address over one protocol.
//
// NAT is address.NATUnknown (and Delta address.DeltaUnknown) when the tests
// could not decide, and address.NATBlocked (Delta address.DeltaNA) for UDP
// when no server answered over UDP but some did over TCP. Reason says why a
// result is unknown or blocked, or what else went wrong on the way (servers
// disagreeing on the external IP); it is empty when all went well. Notes
// record the limits of the evidence (e.g. "filtering cannot be tested over
// tcp") and failed individual tests.
type Result struct {
	NAT        address.NATType   `json:"nat"`
	Mapping    Behavior          `json:"mapping"`
	Filtering  Behavior          `json:"filtering"`
	Delta      address.DeltaType `json:"delta"`
	DeltaValue int               `json:"delta_value"`
	// ExternalIP is the public IP the servers saw (see Config.STUNServers
	// for when two must agree). Invalid when unknown.
	ExternalIP netip.Addr `json:"external_ip,omitzero"`
	// LocalAddr is the socket the mapping tests used and MappedAddr its
	// mapping as the first answering server saw it.
	LocalAddr  netip.AddrPort `json:"local_addr,omitzero"`
	MappedAddr netip.AddrPort `json:"mapped_addr,omitzero"`
	Reason     string         `json:"reason,omitempty"`
	Notes      []string       `json:"notes,omitempty"`
	// Servers holds the first (RFC 5780 test I) exchange with each
	// configured server of the local address's IP family.
	Servers []ServerResult `json:"servers,omitempty"`
	// Mappings holds every mapping test from LocalAddr, test I included.
	Mappings []Observation `json:"mappings,omitempty"`
	// Port-delta samples, in the order they were taken.
	DeltaConsecutive []Binding `json:"delta_consecutive,omitempty"`
	DeltaRandom      []Binding `json:"delta_random,omitempty"`
}

// ServerResult is one STUN server's answer to the first binding request.
type ServerResult struct {
	Server string         `json:"server"`          // as configured
	Addr   netip.AddrPort `json:"addr,omitzero"`   // resolved address used
	Mapped netip.AddrPort `json:"mapped,omitzero"` // XOR-MAPPED-ADDRESS
	Other  netip.AddrPort `json:"other,omitzero"`  // OTHER-ADDRESS, when offered
	RTTMs  float64        `json:"rtt_ms,omitempty"`
	Error  string         `json:"error,omitempty"`
}

func (r *Result) note(s string) { r.Notes = append(r.Notes, s) }
