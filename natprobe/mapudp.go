package natprobe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// MapUDP observes the external endpoint the NAT gives a fresh UDP socket on
// local, with one STUN Binding to the first configured server of local's
// family that answers: one small datagram each way, cheap enough to repeat
// every few seconds to notice that the external address changed.
func (p *Prober) MapUDP(ctx context.Context, local netip.Addr) (netip.AddrPort, error) {
	targets, _, reason := targetsFor(p.resolve(ctx), local)
	if len(targets) == 0 {
		return netip.AddrPort{}, fmt.Errorf("natprobe: map udp from %s: %s", local, reason)
	}
	c, err := p.listenUDP(netip.AddrPortFrom(local, 0))
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer c.close()
	var errs []error
	for _, t := range targets {
		a, _, _, err := c.do(ctx, t.addr, change{})
		if err == nil {
			return a.Mapped, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return netip.AddrPort{}, fmt.Errorf("natprobe: map udp from %s: %w", local, errors.Join(errs...))
}
