package natprobe

import (
	"context"
	"fmt"
	"net/netip"
)

// MapOnce observes the external endpoint the NAT gives a fresh socket on
// local, with one STUN Binding over network ("udp" or "tcp") to server, an
// address a probe resolved (Result.Servers): over UDP one small datagram
// each way, cheap enough to repeat every few seconds to notice that the
// external address changed. It resolves nothing.
func (p *Prober) MapOnce(ctx context.Context, network string, local netip.Addr, server netip.AddrPort) (netip.AddrPort, error) {
	switch network {
	case "udp":
		c, err := p.listenUDP(netip.AddrPortFrom(local, 0))
		if err != nil {
			return netip.AddrPort{}, err
		}
		defer c.close()
		a, _, _, err := c.do(ctx, server, change{})
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("natprobe: map udp from %s: %w", local, err)
		}
		return a.Mapped, nil
	case "tcp":
		a, c, _, err := p.tcpExchange(ctx, netip.AddrPortFrom(local, 0), server)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("natprobe: map tcp from %s: %w", local, err)
		}
		abort(c)
		return a.Mapped, nil
	}
	return netip.AddrPort{}, fmt.Errorf("natprobe: map from %s: network %q: want udp or tcp", local, network)
}
