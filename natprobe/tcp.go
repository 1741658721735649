package natprobe

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// probeTCP runs every TCP test from one local address. The mapping tests
// connect from one local port to several server addresses at once, which
// needs SO_REUSEADDR and SO_REUSEPORT; filtering cannot be tested.
func (p *Prober) probeTCP(ctx context.Context, la LocalAddr, targets []target, failed []ServerResult) Result {
	res := Result{Filtering: BehaviorUntested}
	res.note("filtering cannot be tested over tcp")
	defer func() {
		p.log.Debug("probed", "proto", "tcp", "local", la.IP, "nat", res.NAT, "mapping", res.Mapping,
			"filtering", res.Filtering, "delta", res.Delta, "delta_value", res.DeltaValue, "reason", res.Reason)
	}()

	mctx, cancel := context.WithTimeout(ctx, p.cfg.MappingTimeout)
	defer cancel()
	// The listener reserves the local port for the mapping phase; the
	// connections share it.
	lc := net.ListenConfig{Control: reuseControl}
	ln, err := lc.Listen(mctx, tcpNetwork(la.IP), netip.AddrPortFrom(la.IP, 0).String())
	if err != nil {
		res.Reason, res.Servers = fmt.Sprintf("natprobe: tcp socket on %s: %v", la.IP, err), failed
		return res
	}
	la4 := ln.Addr().(*net.TCPAddr).AddrPort()
	res.LocalAddr = netip.AddrPortFrom(la4.Addr().Unmap(), la4.Port())
	local := res.LocalAddr
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	closeAll := func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			abort(c)
		}
		conns = nil
	}
	defer closeAll()
	// Connections stay open until the mapping phase ends, so that a NAT
	// that keeps a mapping only while it is in use shows its hand.
	ex := func(ctx context.Context, dst netip.AddrPort) (answer, time.Duration, error) {
		a, c, rtt, err := p.tcpExchange(ctx, local, dst)
		if c != nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return a, rtt, err
	}
	got := testI(mctx, targets, ex, &res)
	res.Servers = append(res.Servers, failed...)
	if len(got) == 0 {
		res.Reason = "no stun server answered over tcp (many serve udp only)"
		return res
	}
	mappedIsLocal := external(got, &res)
	why := mappingTests(mctx, got, ex, &res)
	closeAll()

	dctx, cancel := context.WithTimeout(ctx, p.cfg.DeltaTimeout)
	defer cancel()
	ref := got[0].dst
	p.deltaTests(dctx, func(port uint16) (deltaSocket, error) {
		local := netip.AddrPortFrom(la.IP, port)
		ln, err := lc.Listen(dctx, tcpNetwork(la.IP), local.String())
		if err != nil {
			return nil, err
		}
		return tcpDeltaSocket{p, ln, local, ref}, nil
	}, &res)

	res.NAT = ClassifyTCP(mappedIsLocal, res.Mapping)
	finishReason(&res, why)
	return res
}

// tcpDeltaSocket holds its port with a SO_REUSEPORT listener and takes
// the sample with a connection from the same port.
type tcpDeltaSocket struct {
	p     *Prober
	ln    net.Listener
	local netip.AddrPort
	ref   netip.AddrPort
}

func (s tcpDeltaSocket) sample(ctx context.Context) (uint16, error) {
	a, c, _, err := s.p.tcpExchange(ctx, s.local, s.ref)
	if c != nil {
		abort(c)
	}
	return a.Mapped.Port(), err
}

func (s tcpDeltaSocket) close() { s.ln.Close() }

func tcpNetwork(ip netip.Addr) string {
	if ip.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

// tcpExchange connects from local to dst (sharing the local port with other
// sockets) and does one Binding transaction (RFC 5389 framing over TCP). On
// success it returns the open connection, which the caller must abort.
func (p *Prober) tcpExchange(ctx context.Context, local, dst netip.AddrPort) (answer, net.Conn, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.TCPTimeout)
	defer cancel()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(local), Control: reuseControl}
	start := time.Now()
	c, err := d.DialContext(ctx, tcpNetwork(dst.Addr()), dst.String())
	if err != nil {
		return answer{}, nil, 0, fmt.Errorf("tcp %s from %s: %w", dst, local, err)
	}
	req, err := newRequest(change{})
	if err != nil {
		abort(c)
		return answer{}, nil, 0, err
	}
	a, err := tcpTransact(ctx, c, req)
	if err != nil {
		abort(c)
		return answer{}, nil, 0, fmt.Errorf("tcp %s from %s: %w", dst, local, err)
	}
	return a, c, time.Since(start), nil
}

// tcpTransact writes the Binding request req on c and reads the answer,
// within ctx.
func tcpTransact(ctx context.Context, c net.Conn, req *stun.Message) (answer, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(req.Raw); err != nil {
		return answer{}, err
	}
	buf := make([]byte, stunMaxMessage)
	if _, err := io.ReadFull(c, buf[:stunHeaderSize]); err != nil {
		return answer{}, noAnswer(ctx, err)
	}
	size := int(binary.BigEndian.Uint16(buf[2:4]))
	if size%4 != 0 || stunHeaderSize+size > len(buf) {
		return answer{}, fmt.Errorf("%w: message of %d bytes", ErrBadAnswer, size)
	}
	msg := buf[:stunHeaderSize+size]
	if _, err := io.ReadFull(c, msg[stunHeaderSize:]); err != nil {
		return answer{}, noAnswer(ctx, err)
	}
	txid, a, ok, err := parseAnswer(msg)
	switch {
	case !ok || txid != req.TransactionID:
		return answer{}, fmt.Errorf("%w: not an answer to our request", ErrBadAnswer)
	case err != nil:
		return answer{}, err
	}
	return a, nil
}

// noAnswer reports a read that ended with ctx (or the deadline) as
// ErrNoAnswer.
func noAnswer(ctx context.Context, err error) error {
	if ne, ok := err.(net.Error); (ok && ne.Timeout()) || ctx.Err() != nil {
		return fmt.Errorf("%w: %v", ErrNoAnswer, err)
	}
	return err
}

// abort closes c with a RST (linger 0): probing connections leave no
// TIME_WAIT behind to block reusing their ports.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
