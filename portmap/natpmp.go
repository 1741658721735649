package portmap

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
)

// natpmpClient speaks NAT-PMP (RFC 6886) to a gateway, through
// github.com/jackpal/go-nat-pmp. That library takes a timeout rather than
// a context: each call gets what is left of ctx's deadline, at most
// natpmpMaxWait.
type natpmpClient struct {
	gw  Gateway
	now func() time.Time
}

const natpmpMaxWait = 2 * time.Second

func (c *natpmpClient) Protocol() Protocol { return NATPMP }

func (c *natpmpClient) lib(ctx context.Context) *natpmp.Client {
	wait := natpmpMaxWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(max(time.Until(d), time.Millisecond), natpmpMaxWait)
	}
	return natpmp.NewClientWithLocalAndTimeout(c.gw.IP.AsSlice(), c.gw.Local.AsSlice(), wait)
}

func (c *natpmpClient) Probe(ctx context.Context) error {
	_, err := c.external(ctx)
	return err
}

// external asks the gateway for its external address.
func (c *natpmpClient) external(ctx context.Context) (*natpmp.GetExternalAddressResult, error) {
	r, err := c.lib(ctx).GetExternalAddress()
	if err != nil {
		return nil, fmt.Errorf("nat-pmp: external address from %s: %w", c.gw.IP, err)
	}
	return r, nil
}

func (c *natpmpClient) Alive(ctx context.Context, m Mapping) error {
	ext, err := c.external(ctx)
	if err != nil {
		return err
	}
	switch {
	case epochLost(m.Epoch, m.At, ext.SecondsSinceStartOfEpoc, c.now()):
		return fmt.Errorf("nat-pmp: epoch %d after %d: %w", ext.SecondsSinceStartOfEpoc, m.Epoch, ErrLost)
	case netip.AddrFrom4(ext.ExternalIPAddress) != m.External.Addr():
		return fmt.Errorf("nat-pmp: external address now %v: %w", netip.AddrFrom4(ext.ExternalIPAddress), ErrLost)
	}
	return nil
}

func (c *natpmpClient) Map(ctx context.Context, req request) (Mapping, error) {
	ext, err := c.external(ctx)
	if err != nil {
		return Mapping{}, err
	}
	r, err := c.lib(ctx).AddPortMapping(req.Transport, int(req.Internal.Port()), int(req.External), int(seconds(req.Lease)))
	if err != nil {
		return Mapping{}, fmt.Errorf("nat-pmp: map %s port %d at %s: %w", req.Transport, req.Internal.Port(), c.gw.IP, err)
	}
	return Mapping{
		Protocol: NATPMP, Transport: req.Transport, Internal: req.Internal,
		External: netip.AddrPortFrom(netip.AddrFrom4(ext.ExternalIPAddress), r.MappedExternalPort),
		Lease:    time.Duration(r.PortMappingLifetimeInSeconds) * time.Second,
		At:       c.now(), Epoch: r.SecondsSinceStartOfEpoc, HasEpoch: true,
	}, nil
}

func (c *natpmpClient) Unmap(ctx context.Context, m Mapping) error {
	// A delete names the internal port, with external port and lifetime 0.
	if _, err := c.lib(ctx).AddPortMapping(m.Transport, int(m.Internal.Port()), 0, 0); err != nil {
		return fmt.Errorf("nat-pmp: unmap %s port %d at %s: %w", m.Transport, m.Internal.Port(), c.gw.IP, err)
	}
	return nil
}
