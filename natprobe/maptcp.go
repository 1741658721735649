package natprobe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// MapTCP observes the external endpoint the NAT gives a TCP connection from
// local, with one STUN Binding over TCP to the first configured server of
// local's family that answers. The socket shares the port
// (SO_REUSEADDR/SO_REUSEPORT) and is closed with a RST before MapTCP
// returns, so the caller can bind the same port at once (hole punching).
func (p *Prober) MapTCP(ctx context.Context, local netip.AddrPort) (netip.AddrPort, error) {
	targets, _, reason := targetsFor(p.resolve(ctx), local.Addr())
	if len(targets) == 0 {
		return netip.AddrPort{}, fmt.Errorf("natprobe: map tcp from %s: %s", local, reason)
	}
	var errs []error
	for _, t := range targets {
		a, c, _, err := p.tcpExchange(ctx, local, t.addr)
		if err == nil {
			abort(c)
			return a.Mapped, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return netip.AddrPort{}, fmt.Errorf("natprobe: map tcp from %s: %w", local, errors.Join(errs...))
}
