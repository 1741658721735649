package portmap

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/httpu"
	"github.com/huin/goupnp/ssdp"
)

// upnpClient speaks UPnP IGD to a gateway, through github.com/huin/goupnp:
// an SSDP search from the local address, the gateway's device description,
// then the WAN connection service's SOAP actions. Only a device whose
// description lives on the gateway's IP is used.
type upnpClient struct {
	gw  Gateway
	now func() time.Time

	mu   sync.Mutex
	conn igdConn // found by Probe
}

// igdConn is what the WANIPConnection:1 and :2 and WANPPPConnection:1
// clients have in common.
type igdConn interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string,
		internalPort uint16, internalClient string, enabled bool, description string, leaseSeconds uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) (
		internalPort uint16, internalClient string, enabled bool, description string, leaseSeconds uint32, err error)
}

// igdAnyPort is IGDv2's AddAnyPortMapping: the gateway picks the
// external port when the one asked for is taken.
type igdAnyPort interface {
	AddAnyPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string,
		internalPort uint16, internalClient string, enabled bool, description string, leaseSeconds uint32) (uint16, error)
}

// upnpSearchWait is how long the SSDP search collects answers; SSDP counts
// in whole seconds, and the search asks for answers within 1.
const upnpSearchWait = 1200 * time.Millisecond

const upnpDescription = "reachd"

func (c *upnpClient) Protocol() Protocol { return UPnP }

func (c *upnpClient) Probe(ctx context.Context) error {
	conn, err := c.discover(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	return nil
}

// discover finds the gateway's WAN connection service.
func (c *upnpClient) discover(ctx context.Context) (igdConn, error) {
	hc, err := httpu.NewHTTPUClientAddr(c.gw.Local.String())
	if err != nil {
		return nil, fmt.Errorf("upnp: %w", err)
	}
	defer hc.Close()
	sctx, cancel := context.WithTimeout(ctx, upnpSearchWait)
	defer cancel()
	resps, err := ssdp.RawSearch(sctx, hc, ssdp.SSDPAll, 2)
	if err != nil && len(resps) == 0 {
		return nil, fmt.Errorf("upnp: ssdp search: %w", err)
	}
	seen := map[string]bool{}
	for _, r := range resps {
		loc, err := r.Location()
		if err != nil || seen[loc.String()] || !c.onGateway(loc) {
			continue
		}
		seen[loc.String()] = true
		root, err := goupnp.DeviceByURLCtx(ctx, loc)
		if err != nil {
			continue
		}
		if conn := firstConn(root, loc); conn != nil {
			return conn, nil
		}
	}
	return nil, fmt.Errorf("upnp: no internet gateway device at %s", c.gw.IP)
}

// onGateway tells whether a device description lives on the gateway.
func (c *upnpClient) onGateway(loc *url.URL) bool {
	ip, err := netip.ParseAddr(loc.Hostname())
	return err == nil && ip.Unmap() == c.gw.IP
}

// firstConn is the device's first WAN connection service, IGDv2's first.
func firstConn(root *goupnp.RootDevice, loc *url.URL) igdConn {
	if cs, err := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(root, loc); err == nil && len(cs) > 0 {
		return cs[0]
	}
	if cs, err := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, loc); err == nil && len(cs) > 0 {
		return cs[0]
	}
	if cs, err := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(root, loc); err == nil && len(cs) > 0 {
		return cs[0]
	}
	return nil
}

func (c *upnpClient) service(ctx context.Context) (igdConn, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		return conn, nil
	}
	if err := c.Probe(ctx); err != nil {
		return nil, err
	}
	return c.service(ctx)
}

func (c *upnpClient) Map(ctx context.Context, req request) (Mapping, error) {
	conn, err := c.service(ctx)
	if err != nil {
		return Mapping{}, err
	}
	proto := strings.ToUpper(req.Transport)
	port := req.External
	err = conn.AddPortMappingCtx(ctx, "", port, proto, req.Internal.Port(), req.Internal.Addr().String(),
		true, upnpDescription, seconds(req.Lease))
	if anyPort, ok := conn.(igdAnyPort); ok && err != nil && req.Prev == nil {
		// The port may be another host's mapping: IGDv2 picks a free one.
		port, err = anyPort.AddAnyPortMappingCtx(ctx, "", req.External, proto, req.Internal.Port(), req.Internal.Addr().String(),
			true, upnpDescription, seconds(req.Lease))
	}
	if err != nil {
		c.forget()
		return Mapping{}, fmt.Errorf("upnp: map %s port %d at %s: %w", req.Transport, req.Internal.Port(), c.gw.IP, err)
	}
	s, err := conn.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return Mapping{}, fmt.Errorf("upnp: external address of %s: %w", c.gw.IP, err)
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return Mapping{}, fmt.Errorf("upnp: external address of %s: %q: %w", c.gw.IP, s, err)
	}
	return Mapping{
		Protocol: UPnP, Transport: req.Transport, Internal: req.Internal,
		External: netip.AddrPortFrom(ip.Unmap(), port), Lease: req.Lease, At: c.now(),
	}, nil
}

func (c *upnpClient) Alive(ctx context.Context, m Mapping) error {
	conn, err := c.service(ctx)
	if err != nil {
		return err
	}
	port, client, enabled, _, _, err := conn.GetSpecificPortMappingEntryCtx(ctx, "", m.External.Port(), strings.ToUpper(m.Transport))
	switch {
	case err != nil:
		c.forget()
		return fmt.Errorf("upnp: port %d at %s: %v: %w", m.External.Port(), c.gw.IP, err, ErrLost)
	case port != m.Internal.Port() || client != m.Internal.Addr().String() || !enabled:
		return fmt.Errorf("upnp: port %d at %s goes to %s:%d (enabled %v): %w", m.External.Port(), c.gw.IP, client, port, enabled, ErrLost)
	}
	return nil
}

func (c *upnpClient) Unmap(ctx context.Context, m Mapping) error {
	conn, err := c.service(ctx)
	if err != nil {
		return err
	}
	if err := conn.DeletePortMappingCtx(ctx, "", m.External.Port(), strings.ToUpper(m.Transport)); err != nil {
		return fmt.Errorf("upnp: unmap %s port %d at %s: %w", m.Transport, m.External.Port(), c.gw.IP, err)
	}
	return nil
}

// forget drops the service found, so the next call searches again (the
// gateway may have restarted on another port).
func (c *upnpClient) forget() {
	c.mu.Lock()
	c.conn = nil
	c.mu.Unlock()
}
