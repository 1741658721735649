package portmap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// pcpClient speaks PCP to a gateway.
type pcpClient struct {
	gw    Gateway
	now   func() time.Time
	first time.Duration // the first retransmission timeout; it doubles; 0 means 250ms
	port  uint16        // the server's port; 0 means 5351 (tests change it)
}

func (c *pcpClient) Protocol() Protocol { return PCP }

func (c *pcpClient) Probe(ctx context.Context) error {
	_, err := c.transact(ctx, encodePCPAnnounce(c.gw.Local), pcpOpAnnounce, nil)
	return err
}

func (c *pcpClient) Alive(ctx context.Context, m Mapping) error {
	r, err := c.transact(ctx, encodePCPAnnounce(c.gw.Local), pcpOpAnnounce, nil)
	if err != nil {
		return err
	}
	if epochLost(m.Epoch, m.At, r.Epoch, c.now()) {
		return fmt.Errorf("pcp: epoch %d after %d: %w", r.Epoch, m.Epoch, ErrLost)
	}
	return nil
}

func (c *pcpClient) Map(ctx context.Context, req request) (Mapping, error) {
	m := pcpMap{Protocol: pcpProtoTCP, Internal: req.Internal.Port(), External: netip.AddrPortFrom(netip.Addr{}, req.External)}
	if req.Transport == "udp" {
		m.Protocol = pcpProtoUDP
	}
	if req.Prev != nil {
		m.Nonce = req.Prev.nonce
		m.External = req.Prev.External
	} else {
		rand.Read(m.Nonce[:])
	}
	r, err := c.transact(ctx, encodePCPMap(c.gw.Local, seconds(req.Lease), m), pcpOpMap, &m.Nonce)
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{
		Protocol: PCP, Transport: req.Transport, Internal: req.Internal,
		External: r.Map.External, Lease: time.Duration(r.Lifetime) * time.Second,
		At: c.now(), Epoch: r.Epoch, HasEpoch: true, nonce: m.Nonce,
	}, nil
}

func (c *pcpClient) Unmap(ctx context.Context, m Mapping) error {
	req := pcpMap{Nonce: m.nonce, Protocol: pcpProtoTCP, Internal: m.Internal.Port()}
	if m.Transport == "udp" {
		req.Protocol = pcpProtoUDP
	}
	_, err := c.transact(ctx, encodePCPMap(c.gw.Local, 0, req), pcpOpMap, &req.Nonce)
	return err
}

// transact sends msg to the gateway's PCP port, resending it at doubling
// intervals, until a response to op (and, for MAP, with nonce) arrives or
// ctx ends. A response that is not success is an error naming its result.
func (c *pcpClient) transact(ctx context.Context, msg []byte, op uint8, nonce *[pcpNonceLength]byte) (pcpResponse, error) {
	port := c.port
	if port == 0 {
		port = pcpPort
	}
	conn, err := dialGateway(ctx, c.gw, port)
	if err != nil {
		return pcpResponse{}, fmt.Errorf("pcp: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, pcpMaxMessage+4)
	wait := c.first
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	for {
		if ctx.Err() != nil {
			return pcpResponse{}, fmt.Errorf("pcp: no answer from %s: %w", c.gw.IP, ctx.Err())
		}
		if _, err := conn.Write(msg); err != nil {
			return pcpResponse{}, fmt.Errorf("pcp: send: %w", err)
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if ctx.Err() != nil {
					return pcpResponse{}, fmt.Errorf("pcp: no answer from %s: %w", c.gw.IP, ctx.Err())
				}
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				return pcpResponse{}, fmt.Errorf("pcp: %w", err)
			}
			r, err := decodePCP(buf[:n])
			switch {
			case errors.Is(err, errPCPVersion):
				return pcpResponse{}, fmt.Errorf("pcp: %s speaks nat-pmp only: %w", c.gw.IP, err)
			case err != nil, r.Opcode != op:
				continue // not ours
			case r.Result != PCPSuccess:
				return r, fmt.Errorf("pcp: %s answered %s", c.gw.IP, r.Result)
			case nonce != nil && r.Map.Nonce != *nonce:
				continue
			}
			return r, nil
		}
		wait *= 2
	}
}

// dialGateway opens a UDP socket from the gateway's local address to its
// port.
func dialGateway(ctx context.Context, gw Gateway, port uint16) (net.Conn, error) {
	d := net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw.Local, 0))}
	return d.DialContext(ctx, "udp", netip.AddrPortFrom(gw.IP, port).String())
}
