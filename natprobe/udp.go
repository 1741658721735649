package natprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/address"
)

// probeUDP runs every UDP test from one local address.
func (p *Prober) probeUDP(ctx context.Context, la LocalAddr, targets []target, failed []ServerResult) Result {
	var res Result
	defer func() {
		p.log.Debug("probed", "proto", "udp", "local", la.IP, "nat", res.NAT, "mapping", res.Mapping,
			"filtering", res.Filtering, "delta", res.Delta, "delta_value", res.DeltaValue, "reason", res.Reason)
	}()

	// Mapping phase: test I, then tests II and III, from one socket.
	mctx, cancel := context.WithTimeout(ctx, p.cfg.MappingTimeout)
	defer cancel()
	cl, err := p.listenUDP(netip.AddrPortFrom(la.IP, 0))
	if err != nil {
		res.Reason, res.Servers = err.Error(), failed
		return res
	}
	defer cl.close()
	res.LocalAddr = cl.local
	ex := func(ctx context.Context, dst netip.AddrPort) (answer, time.Duration, error) {
		a, _, rtt, err := cl.do(ctx, dst, change{})
		return a, rtt, err
	}
	got := testI(mctx, targets, ex, &res)
	res.Servers = append(res.Servers, failed...)
	if len(got) == 0 {
		res.Reason = "no stun server answered over udp"
		return res
	}
	mappedIsLocal := external(got, &res)

	// The filtering tests run meanwhile, from a socket of their own: the
	// mapping tests open the NAT towards the other address.
	var (
		wg         sync.WaitGroup
		filtering  Behavior
		filterNote string
	)
	wg.Go(func() {
		fctx, cancel := context.WithTimeout(ctx, p.cfg.FilteringTimeout)
		defer cancel()
		filtering, filterNote = p.filteringTests(fctx, la, got)
	})
	why := mappingTests(mctx, got, ex, &res)
	wg.Wait()
	cl.close()
	res.Filtering = filtering
	if filterNote != "" {
		res.note(filterNote)
	}

	dctx, cancel := context.WithTimeout(ctx, p.cfg.DeltaTimeout)
	defer cancel()
	ref := got[0].dst
	p.deltaTests(dctx, func(port uint16) (deltaSocket, error) {
		c, err := p.listenUDP(netip.AddrPortFrom(la.IP, port))
		if err != nil {
			return nil, err
		}
		return udpDeltaSocket{c, ref}, nil
	}, &res)

	res.NAT = ClassifyUDP(mappedIsLocal, res.Mapping, res.Filtering)
	finishReason(&res, why)
	return res
}

// udpDeltaSocket takes a delta sample over its own UDP socket.
type udpDeltaSocket struct {
	c   *udpClient
	ref netip.AddrPort
}

func (s udpDeltaSocket) sample(ctx context.Context) (uint16, error) {
	a, _, _, err := s.c.do(ctx, s.ref, change{})
	return a.Mapped.Port(), err
}

func (s udpDeltaSocket) close() { s.c.close() }

// filteringTests runs the RFC 5780 filtering tests (section 4.4) against
// a server that can answer from elsewhere (see filteringServer):
// CHANGE-REQUEST for IP and port (answered: endpoint-independent), for the
// port only (answered: address-dependent, else address-and-port-dependent).
// A plain request alongside tells filtering from a server that stopped
// answering. The returned note explains any limit of the verdict.
func (p *Prober) filteringTests(ctx context.Context, la LocalAddr, got []reply) (Behavior, string) {
	srv, twoIPs := filteringServer(got)
	if srv == nil {
		return BehaviorUntested, "filtering untested: no stun server offers OTHER-ADDRESS, and no two answer on one ip"
	}
	cl, err := p.listenUDP(netip.AddrPortFrom(la.IP, 0))
	if err != nil {
		return BehaviorUnknown, "filtering unknown: " + err.Error()
	}
	defer cl.close()

	type outcome struct {
		from netip.AddrPort
		err  error
	}
	tests := []change{{}, {port: true}}
	if twoIPs {
		tests = append(tests, change{ip: true, port: true})
	}
	out := make([]outcome, len(tests))
	var wg sync.WaitGroup
	for i, ch := range tests {
		wg.Go(func() {
			_, from, _, err := cl.do(ctx, srv.dst, ch)
			out[i] = outcome{from, err}
		})
	}
	wg.Wait()
	for i, o := range out[1:] {
		var se *STUNError
		switch {
		case errors.As(o.err, &se):
			return BehaviorUnknown, fmt.Sprintf("filtering unknown: %s refused %v: %v", srv.dst, tests[i+1], o.err)
		case o.err == nil && o.from == srv.dst:
			return BehaviorUnknown, fmt.Sprintf("filtering unknown: %s ignored %v", srv.dst, tests[i+1])
		}
	}
	switch {
	case twoIPs && out[2].err == nil:
		return BehaviorEndpointIndependent, ""
	case out[1].err == nil && twoIPs:
		return BehaviorAddressDependent, ""
	case out[1].err == nil:
		return BehaviorAddressDependent, "filtering may be endpoint-independent: the stun server has one ip, so only a port change was tested"
	case out[0].err != nil:
		return BehaviorUnknown, fmt.Sprintf("filtering unknown: %s did not answer a plain request either: %v", srv.dst, out[0].err)
	}
	return BehaviorAddressPortDependent, ""
}

// filteringServer picks the server for the filtering tests and tells
// whether it can change its IP: first one whose OTHER-ADDRESS has another
// IP, else one whose OTHER-ADDRESS has another port, else one that answered
// beside another configured address of the same IP. That last is how an
// RFC 5780 server with one IP and two ports shows itself, as it must not
// send OTHER-ADDRESS; it can still change the port. A server that cannot
// is caught by the tests (a refusal, or an answer from the same address).
func filteringServer(got []reply) (srv *reply, twoIPs bool) {
	for i := range got {
		o := got[i].ans.Other
		if !o.IsValid() {
			continue
		}
		if o.Addr() != got[i].dst.Addr() {
			return &got[i], true
		}
		if srv == nil {
			srv = &got[i]
		}
	}
	if srv != nil {
		return srv, false
	}
	for i := range got {
		for j := range got {
			if i != j && got[i].dst.Addr() == got[j].dst.Addr() && got[i].dst.Port() != got[j].dst.Port() {
				return &got[i], false
			}
		}
	}
	return nil, false
}

// finishReason sets the reason of an undecided result.
func finishReason(res *Result, why string) {
	switch {
	case why == "":
	case res.NAT == address.NATUnknown && res.Reason == "":
		res.Reason = why
	default:
		res.note(why)
	}
}

// udpClient runs concurrent STUN transactions over one UDP socket: one
// reader goroutine (owned by the client, ended by close) hands answers to
// the waiting transaction by ID.
type udpClient struct {
	conn    *net.UDPConn
	local   netip.AddrPort
	timeout time.Duration
	rto     time.Duration

	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]chan udpReply
	once    sync.Once
	done    chan struct{}
}

type udpReply struct {
	ans  answer
	from netip.AddrPort
	err  error
}

// listenUDP binds a UDP socket on local (port 0 picks one).
func (p *Prober) listenUDP(local netip.AddrPort) (*udpClient, error) {
	network := "udp4"
	if !local.Addr().Is4() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("natprobe: udp socket on %s: %w", local, err)
	}
	la := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	c := &udpClient{
		conn:    conn,
		local:   netip.AddrPortFrom(la.Addr().Unmap(), la.Port()),
		timeout: p.cfg.TransactionTimeout,
		rto:     p.cfg.RetransmitInterval,
		pending: make(map[[stun.TransactionIDSize]byte]chan udpReply),
		done:    make(chan struct{}),
	}
	go c.read()
	return c, nil
}

// close closes the socket and waits for the reader. It may be called more
// than once.
func (c *udpClient) close() {
	c.once.Do(func() { c.conn.Close() })
	<-c.done
}

func (c *udpClient) read() {
	defer close(c.done)
	buf := make([]byte, stunMaxMessage)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error reported on the socket
		}
		txid, a, ok, err := parseAnswer(buf[:n])
		if !ok {
			continue
		}
		c.mu.Lock()
		ch := c.pending[txid]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- udpReply{ans: a, from: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err: err}:
			default: // a retransmission's answer; the first one won
			}
		}
	}
}

// do runs one transaction to dst, retransmitting with a doubling interval
// until an answer comes, the transaction timeout passes or ctx ends. It
// returns the answer, the address it came from and the round trip time.
func (c *udpClient) do(ctx context.Context, dst netip.AddrPort, ch change) (answer, netip.AddrPort, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, netip.AddrPort{}, 0, fmt.Errorf("udp %s (%v): %w", dst, ch, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := newRequest(ch)
	if err != nil {
		return answer{}, netip.AddrPort{}, 0, err
	}
	replies := make(chan udpReply, 1)
	c.mu.Lock()
	c.pending[req.TransactionID] = replies
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.TransactionID)
		c.mu.Unlock()
	}()

	start := time.Now()
	rto := c.rto
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case r := <-replies:
			if r.err != nil {
				return answer{}, r.from, 0, fmt.Errorf("udp %s (%v): %w", dst, ch, r.err)
			}
			return r.ans, r.from, time.Since(start), nil
		case <-ctx.Done():
			return answer{}, netip.AddrPort{}, 0, fmt.Errorf("udp %s (%v): %w", dst, ch, ErrNoAnswer)
		case <-timer.C:
			if _, err := c.conn.WriteToUDPAddrPort(req.Raw, dst); err != nil {
				return answer{}, netip.AddrPort{}, 0, fmt.Errorf("udp %s: send: %w", dst, err)
			}
			timer.Reset(rto)
			rto *= 2
		}
	}
}
