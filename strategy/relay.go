package strategy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/turn"
)

// relay takes a TURN TCP allocation (RFC 6062), sends the relayed address
// to the peer, and accepts the peer's plain TCP connection through it.
type relay struct{}

// Signaling bodies of the relay strategy.
type (
	relayBody struct {
		Ticket  string `json:"session"`
		Relayed string `json:"relayed"` // the TURN relayed ip:port to dial
	}
	relayReplyBody struct{}
)

// Signaling messages of the relay strategy.
var (
	msgRelay      = signaling.NewType[relayBody]("relay")
	msgRelayReply = signaling.NewType[relayReplyBody]("relay_reply")
)

func (relay) Name() string            { return Relay }
func (relay) Timeout() time.Duration  { return 8 * time.Second }
func (relay) Request() signaling.Kind { return msgRelay }

func (relay) Judge(_, _ address.Address, cfg PlanConfig) Judgement {
	if !cfg.TURN {
		return Judgement{Skip: ErrNoTURN.Error(), Fallback: true}
	}
	return Judgement{Chance: Likely, Fallback: true}
}

// AllocateTimeout bounds taking one TURN allocation (the TCP connect, the
// Allocate exchange and the permission), so that a server that went
// silent leaves the rest of the strategy's budget to the next one.
const AllocateTimeout = 3 * time.Second

func (relay) Initiate(ctx context.Context, env Env, call Call) (Raw, error) {
	self, _ := env.Self()
	urls := env.TURN()
	pool := env.TURNPool()
	if pool != nil {
		urls = pool.Order()
	}
	urls = relayOrder(ctx, urls, self, call.Peer)
	if len(urls) == 0 {
		return Raw{}, ErrNoTURN
	}
	var errs []error
	for _, url := range urls {
		raw, err := relayVia(ctx, env, url, call, pool)
		if err == nil {
			return raw, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return Raw{}, errors.Join(errs...)
}

// relayOrder puts first the TURN servers of a family that both we and the
// peer have an interface of (a relay the peer cannot dial, or we cannot
// reach, is no use): an IPv6-only peer gets the IPv6 TURN address. The
// rest keep their given order (the pool's, or the configured one), after.
func relayOrder(ctx context.Context, urls []string, self, peer address.Address) []string {
	both := func(v6 bool) bool {
		if v6 {
			return len(self.IPv6) > 0 && hasRoutable(peer.IPv6)
		}
		return len(self.IPv4) > 0 && len(peer.IPv4) > 0
	}
	var good, rest []string
	for _, u := range urls {
		ips := turnIPs(ctx, []string{u})
		if len(ips) > 0 && both(ips[0].Is6()) {
			good = append(good, u)
		} else {
			rest = append(rest, u)
		}
	}
	return append(good, rest...)
}

// hasRoutable reports whether an interface has a routable external IP.
func hasRoutable(list []address.Interface) bool {
	for _, it := range list {
		if it.ExternalIP.IsValid() && !it.ExternalIP.IsLinkLocalUnicast() {
			return true
		}
	}
	return false
}

// allocate takes an allocation on url within AllocateTimeout (its
// permission too: permitCtx is for that) and tells pool (if any) when it
// fails; report tells the pool how the permission went.
func allocate(ctx context.Context, env Env, url string, pool *turn.Pool) (alloc *turn.Allocation, permitCtx context.Context, report func(error) error, err error) {
	actx, cancel := context.WithTimeout(ctx, AllocateTimeout)
	start := time.Now()
	fail := func(err error) error {
		if pool != nil && ctx.Err() == nil { // not our own deadline's fault
			pool.Report(url, 0, err)
		}
		return err
	}
	alloc, err = turn.Allocate(actx, turn.Config{URL: url, Logger: env.Logger()})
	if err != nil {
		cancel()
		return nil, nil, nil, fail(err)
	}
	took := time.Since(start)
	report = func(err error) error {
		cancel()
		if err != nil {
			return fail(err)
		}
		if pool != nil {
			// An allocation takes about two round trips after the
			// connect: count it as one, to compare with the probes.
			pool.Report(url, took/3, nil)
		}
		return nil
	}
	return alloc, actx, report, nil
}

func relayVia(ctx context.Context, env Env, url string, call Call, pool *turn.Pool) (Raw, error) {
	peer := call.Peer
	alloc, pctx, report, err := allocate(ctx, env, url, pool)
	if err != nil {
		return Raw{}, err
	}
	// Close stops accepting; the allocation lives on with the accepted
	// connection.
	defer alloc.Close()
	call.mark(MarkTURNAllocated)
	relayed := alloc.RelayedAddr().Addr()
	var permit []netip.Addr
	for _, ip := range peerIPs(peer) {
		if ip.Is4() == relayed.Is4() {
			permit = append(permit, ip)
		}
	}
	if relayed.IsLoopback() {
		// A relay on loopback is reached from this machine only.
		permit = append(permit, relayed)
	}
	// The request goes out as soon as the permission is written to the
	// server, not answered: the permission reaches the server in half our
	// round trip to it, the peer's connection only after the request
	// crossed the brokers and the peer dialled.
	permitted := make(chan error, 1)
	onWire := make(chan struct{})
	go func() {
		permitted <- report(alloc.PermitSent(pctx, func() { close(onWire) }, permit...))
	}()
	permittedOK := false
	select {
	case <-onWire:
	case err := <-permitted:
		if err != nil {
			return Raw{}, err
		}
		permittedOK = true
	}
	s := NewTicket()
	replied := make(chan error, 2)
	pending := 0 // requests not yet answered
	ask := func() {
		pending++
		go func() {
			_, err := request(ctx, env, signaling.PeerOf(peer), msgRelay,
				relayBody{Ticket: s.String(), Relayed: alloc.RelayedAddr().String()}, msgRelayReply)
			if err == nil {
				call.mark(MarkSignalingAnswered)
			}
			replied <- err
		}()
	}
	call.mark(MarkSignalingSent)
	ask()
	accepted := make(chan net.Conn)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := alloc.Accept(ctx)
		if err != nil {
			acceptErr <- err
			return
		}
		select {
		case accepted <- c:
		case <-ctx.Done(): // the strategy gave up meanwhile
			c.Close()
		}
	}()
	var c net.Conn
	var stall <-chan time.Time
	asked := 1
	for c == nil {
		select {
		case c = <-accepted:
		case err := <-acceptErr:
			if ctx.Err() != nil && pending > 0 {
				// The request ends with ctx too: a peer that never
				// answered it says more than the allocation's wait.
				if rerr := <-replied; errors.Is(rerr, signaling.ErrNoReply) {
					return Raw{}, rerr
				}
			}
			return Raw{}, fmt.Errorf("relay accept: %w", err)
		case err := <-permitted:
			if err != nil {
				return Raw{}, err
			}
			permittedOK = true
		case err := <-replied:
			pending--
			if err != nil {
				return Raw{}, err
			}
			if asked == 1 {
				stall = time.After(relayStall(env, peer.NodeID))
			}
		case <-stall:
			// The peer dialled the relayed address (it replied) and the
			// server announced nothing: its connection came before our
			// permission, and the server closed it. Once the permission
			// is in place, ask once more.
			stall = nil
			if !permittedOK {
				select {
				case err := <-permitted:
					if err != nil {
						return Raw{}, err
					}
					permittedOK = true
				case <-ctx.Done():
					return Raw{}, fmt.Errorf("turn permission: %w", ctx.Err())
				}
			}
			asked++
			ask()
		}
	}
	if !permittedOK {
		if err := <-permitted; err != nil {
			c.Close()
			return Raw{}, err
		}
	}
	call.mark(MarkTCPEstablished)
	return Raw{Conn: c, Ticket: s, CheckPreamble: true}, nil
}

func (relay) Respond(ctx context.Context, env Env, m *signaling.Message) (Raw, error) {
	b, err := msgRelay.Decode(m)
	if err != nil {
		return Raw{}, badRequest("%w", err)
	}
	s, err := ParseTicket(b.Ticket)
	if err != nil {
		return Raw{}, badRequest("%w", err)
	}
	relayed, err := netip.ParseAddrPort(b.Relayed)
	if err != nil {
		return Raw{}, badRequest("relayed address %q: %w", b.Relayed, err)
	}
	// Only an address on one of our own TURN servers (our configuration,
	// so trusted even on loopback): a relay we do not know is just a
	// target of the peer's choosing.
	if !slices.Contains(turnIPs(ctx, env.TURN()), relayed.Addr().Unmap()) {
		return Raw{}, fmt.Errorf("%w: %s is not on a TURN server of ours", ErrForbiddenTarget, relayed)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", relayed.String())
	if err != nil {
		return Raw{}, fmt.Errorf("dial relay: %w", err)
	}
	// Tell the initiator we are through before the handshake it is waiting
	// to run with us.
	if err := env.Reply(ctx, m, msgRelayReply, relayReplyBody{}); err != nil {
		c.Close()
		return Raw{}, fmt.Errorf("relay reply: %w", err)
	}
	return Raw{Conn: c, Ticket: s, SendPreamble: true, Client: true}, nil
}

// relayStall is how long after the peer's reply a relay waits for the
// server to announce the peer's connection before it asks again: the
// announcement and the reply take about the same way, so half a signaling
// round trip, and at least 100 ms.
func relayStall(env Env, peer string) time.Duration {
	rtt, _ := env.SignalingRTT(peer)
	return max(100*time.Millisecond, rtt/2)
}

// peerIPs are the IPs a peer may connect to a relay from: its external
// IPs, and its internal ones for a relay on its LAN.
func peerIPs(a address.Address) []netip.Addr {
	var ips []netip.Addr
	for _, list := range [][]address.Interface{a.IPv4, a.IPv6} {
		for _, it := range list {
			for _, ip := range []netip.Addr{it.ExternalIP, it.InternalIP} {
				if !slices.Contains(ips, ip) && !ip.IsLinkLocalUnicast() {
					ips = append(ips, ip)
				}
			}
		}
	}
	return ips
}
