package portmap

import (
	"context"
	"net/netip"
	"time"
)

// Protocol names a port mapping protocol as the API reports it.
type Protocol string

// Protocols, in the order of preference.
const (
	PCP    Protocol = "pcp"
	NATPMP Protocol = "nat-pmp"
	UPnP   Protocol = "upnp"
)

// Mapping is one port mapping a gateway granted.
type Mapping struct {
	Protocol  Protocol
	Transport string         // "tcp" or "udp"
	Internal  netip.AddrPort // our local address and port
	External  netip.AddrPort // the gateway's external address and port
	Lease     time.Duration  // as granted
	// At is when the grant arrived, by our clock.
	At time.Time
	// Epoch is the server's epoch time in the grant (PCP, NAT-PMP); see
	// epochLost.
	Epoch    uint32
	HasEpoch bool

	nonce [pcpNonceLength]byte // PCP: renewals and the delete repeat it
}

// Expires is when the mapping ends unless renewed.
func (m Mapping) Expires() time.Time { return m.At.Add(m.Lease) }

// request asks a client for a mapping.
type request struct {
	Transport string
	Internal  netip.AddrPort
	// External is the external port to suggest (the previous one on a
	// renewal, else the internal port).
	External uint16
	Lease    time.Duration
	// Prev is the mapping renewed; nil for a new one.
	Prev *Mapping
}

// client speaks one mapping protocol to one gateway.
type client interface {
	Protocol() Protocol
	// Probe tells whether the protocol answers at the gateway; it creates
	// no mapping.
	Probe(ctx context.Context) error
	// Map creates or renews a mapping.
	Map(ctx context.Context, req request) (Mapping, error)
	// Unmap deletes m.
	Unmap(ctx context.Context, m Mapping) error
	// Alive checks, without changing anything, that the gateway still
	// holds m: an error wrapping ErrLost when it does not (its epoch went
	// back, the entry is gone or points elsewhere), another error when it
	// could not tell.
	Alive(ctx context.Context, m Mapping) error
}

// Gateway is where mappings are asked for: the default gateway and the
// local address that reaches it.
type Gateway struct {
	IP    netip.Addr
	Local netip.Addr
}

// seconds is d in whole seconds within a uint32, at least 1.
func seconds(d time.Duration) uint32 {
	s := int64(d / time.Second)
	return uint32(min(max(s, 1), 1<<32-1))
}
