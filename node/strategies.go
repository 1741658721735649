package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/turn"
)

// Signaling bodies of the connection strategies.
type (
	connectBackBody struct {
		Session string `json:"session"`
		Address string `json:"address"` // the requester's address: dial it back
	}
	punchBody struct {
		Session  string `json:"session"`
		Endpoint string `json:"endpoint"` // the sender's predicted external ip:port
		AtMS     int64  `json:"at_ms"`    // meeting time, unix ms on the NTP clock
	}
	punchReplyBody struct {
		Endpoint string `json:"endpoint"`
	}
	relayBody struct {
		Session string `json:"session"`
		Relayed string `json:"relayed"` // the TURN relayed ip:port to dial
	}
	relayReplyBody struct{}
)

// handshakeTimeout bounds reading a preamble and the TLS handshake on an
// inbound connection.
const handshakeTimeout = 5 * time.Second

// keepAlive makes a dead peer show within about Idle + Interval*Count on
// an idle connection; deadPeerTimeout bounds how long sent data may stay
// unacknowledged (TCP_USER_TIMEOUT), which keepalive does not cover.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}

const deadPeerTimeout = 11 * time.Second

func setKeepAlive(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetKeepAliveConfig(keepAlive)
		setUserTimeout(tc, deadPeerTimeout)
	}
}

// Preamble steps of a handshake.
const (
	sendPreamble  = 1 << iota // we dialled: say which session this is
	checkPreamble             // we accepted: the peer must name our session
)

// handshake makes a raw peer connection a stream: keepalive, the preamble
// steps, then TLS (as client or server) proving the peer is expected. The
// raw connection is closed on failure; ctx bounds it all.
func (n *Node) handshake(ctx context.Context, raw net.Conn, s SessionID, steps int, client bool, expected string) (secured, error) {
	setKeepAlive(raw)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (secured, error) {
		raw.Close()
		return secured{}, err
	}
	if steps&sendPreamble != 0 {
		if err := writePreamble(raw, s); err != nil {
			return fail(fmt.Errorf("write preamble: %w", err))
		}
	}
	if steps&checkPreamble != 0 {
		got, err := readPreamble(raw)
		if err != nil {
			return fail(err)
		}
		if got != s {
			return fail(fmt.Errorf("the peer's preamble names session %s, want %s", got, s))
		}
	}
	tc, _, err := n.secure(ctx, raw, client, expected)
	if err != nil {
		return fail(err)
	}
	return secured{tc, raw}, nil
}

// dialSecure is the handshake of a connection we dialled.
func (n *Node) dialSecure(ctx context.Context, raw net.Conn, s SessionID, peer string) (secured, error) {
	return n.handshake(ctx, raw, s, sendPreamble, true, peer)
}

// connectDirect dials the peer's listen port on its reachable addresses.
func (n *Node) connectDirect(ctx context.Context, addr address.Address) (secured, error) {
	self, ok := n.selfAddress()
	if !ok {
		return secured{}, errors.New("own address not known yet")
	}
	raw, err := punch.DialDirect(ctx, punch.Candidates(self, addr), nil)
	if err != nil {
		return secured{}, err
	}
	return n.dialSecure(ctx, raw, SessionID{}, addr.NodeID)
}

// connectReverse asks the peer over signaling to dial us, and waits for its
// connection on our listener.
func (n *Node) connectReverse(ctx context.Context, addr address.Address) (secured, error) {
	self := n.Address()
	if self == "" {
		return secured{}, errors.New("own address not known yet")
	}
	s := newSessionID()
	arrived := n.expectSession(s)
	defer n.forgetSession(s)
	refused := make(chan error, 1)
	go func() {
		// The peer answers only to refuse; a connection is the success.
		_, err := n.sig.Request(ctx, signaling.PeerOf(addr), signaling.TypeConnectBack,
			connectBackBody{Session: s.String(), Address: self})
		refused <- err
	}()
	select {
	case raw := <-arrived:
		// The listener has read and matched the preamble.
		return n.handshake(ctx, raw, s, 0, false, addr.NodeID)
	case err := <-refused:
		var remote *signaling.RemoteError
		if errors.As(err, &remote) {
			return secured{}, fmt.Errorf("peer could not dial back: %s", remote.Reason)
		}
		<-ctx.Done()
		return secured{}, fmt.Errorf("peer did not dial back: %w", err)
	case <-ctx.Done():
		return secured{}, fmt.Errorf("peer did not dial back: %w", ctx.Err())
	}
}

// connectPunch predicts both sides' external endpoints, agrees a meeting
// time over signaling, and makes a TCP simultaneous open.
func (n *Node) connectPunch(ctx context.Context, addr address.Address) (secured, error) {
	if _, ok := punchable(addr.IPv4); !ok {
		return secured{}, errors.New("peer has no IPv4 interface with a known NAT")
	}
	prep, err := n.preparePunch(ctx)
	if err != nil {
		return secured{}, err
	}
	defer prep.release()
	// The meeting time lies a little beyond a signaling round trip, so the
	// peer has our proposal and we have its reply before it comes.
	rtt, _, err := n.sig.Echo(ctx, signaling.PeerOf(addr))
	if err != nil {
		return secured{}, fmt.Errorf("measure signaling rtt: %w", err)
	}
	at := punch.MeetingTime(n.Now(), rtt)
	s := newSessionID()
	reply, err := n.sig.Request(ctx, signaling.PeerOf(addr), signaling.TypePunch,
		punchBody{Session: s.String(), Endpoint: prep.external.String(), AtMS: at.UnixMilli()})
	if err != nil {
		return secured{}, fmt.Errorf("punch request: %w", err)
	}
	var rb punchReplyBody
	if err := reply.Decode(&rb); err != nil {
		return secured{}, fmt.Errorf("punch reply: %w", err)
	}
	remote, err := netip.ParseAddrPort(rb.Endpoint)
	if err != nil {
		return secured{}, fmt.Errorf("punch reply endpoint %q: %w", rb.Endpoint, err)
	}
	return n.punchAndSecure(ctx, prep, remote, at, s, addr.NodeID)
}

// punchPrep is a local port reserved for a punch and its predicted mapping.
type punchPrep struct {
	local    netip.AddrPort
	external netip.AddrPort
	release  func()
}

// preparePunch picks a local port on our first punchable IPv4 interface and
// predicts its external endpoint.
func (n *Node) preparePunch(ctx context.Context) (punchPrep, error) {
	self, ok := n.selfAddress()
	if !ok {
		return punchPrep{}, errors.New("own address not known yet")
	}
	ifc, ok := punchable(self.IPv4)
	if !ok {
		return punchPrep{}, errors.New("no IPv4 interface with a known NAT to punch from")
	}
	// Reserve a port (the listener shares it with Punch's sockets).
	lc := net.ListenConfig{Control: punch.ReuseControl}
	ln, err := lc.Listen(ctx, "tcp4", netip.AddrPortFrom(ifc.InternalIP, 0).String())
	if err != nil {
		return punchPrep{}, fmt.Errorf("reserve punch port: %w", err)
	}
	local := ln.Addr().(*net.TCPAddr).AddrPort()
	ext, err := punch.PredictEndpoint(ctx, local, ifc, n.lastTCPMapping(ifc.InternalIP), n.prober)
	if err != nil {
		ln.Close()
		return punchPrep{}, fmt.Errorf("predict our mapping: %w", err)
	}
	return punchPrep{local: local, external: ext, release: func() { ln.Close() }}, nil
}

// punchAndSecure runs the simultaneous open from prep.local to remote at
// the meeting time, exchanges preambles (both sides dialled), and runs TLS
// in the role the node IDs give.
func (n *Node) punchAndSecure(ctx context.Context, prep punchPrep, remote netip.AddrPort, at time.Time, s SessionID, peer string) (secured, error) {
	prep.release() // Punch binds the port itself
	raw, err := punch.Punch(ctx, punch.Config{
		LocalAddr: prep.local,
		Remote:    remote,
		At:        at,
		Now:       n.Now,
		Logger:    n.log,
	})
	if err != nil {
		return secured{}, err
	}
	// Both sides dialled: both send the preamble and check the other's.
	return n.handshake(ctx, raw, s, sendPreamble|checkPreamble, punch.Role(n.ID(), peer) == punch.RoleClient, peer)
}

// punchable is the first interface whose NAT is known and not blocked.
func punchable(items []address.Interface) (address.Interface, bool) {
	for _, it := range items {
		if it.NAT != address.NATBlocked && it.NAT != address.NATUnknown {
			return it, true
		}
	}
	return address.Interface{}, false
}

// lastTCPMapping is the last TCP mapping the probe saw from ip.
func (n *Node) lastTCPMapping(ip netip.Addr) punch.Mapping {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ifc := range n.report.Interfaces {
		if ifc.IP.WithZone("") != ip {
			continue
		}
		r := ifc.TCP
		if k := len(r.DeltaRandom); k > 0 {
			return punch.Mapping{Local: r.DeltaRandom[k-1].Local, External: r.DeltaRandom[k-1].Mapped}
		}
		return punch.Mapping{Local: r.LocalAddr.Port(), External: r.MappedAddr.Port()}
	}
	return punch.Mapping{}
}

// connectRelay takes a TURN TCP allocation, sends the relayed address to
// the peer, and accepts the peer's connection through the relay.
func (n *Node) connectRelay(ctx context.Context, addr address.Address) (secured, error) {
	if len(n.cfg.TURN) == 0 {
		return secured{}, errors.New("no TURN server configured (--turn)")
	}
	var errs []error
	for _, url := range n.cfg.TURN {
		sc, err := n.relayVia(ctx, url, addr)
		if err == nil {
			return sc, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return secured{}, errors.Join(errs...)
}

func (n *Node) relayVia(ctx context.Context, url string, addr address.Address) (secured, error) {
	alloc, err := turn.Allocate(ctx, turn.Config{URL: url, Logger: n.cfg.Logger})
	if err != nil {
		return secured{}, err
	}
	// Close stops accepting; the allocation lives on with the accepted
	// connection.
	defer alloc.Close()
	relayed := alloc.RelayedAddr().Addr()
	var permit []netip.Addr
	for _, ip := range peerIPs(addr) {
		if ip.Is4() == relayed.Is4() {
			permit = append(permit, ip)
		}
	}
	if relayed.IsLoopback() {
		// A relay on loopback is reached from this machine only.
		permit = append(permit, relayed)
	}
	if err := alloc.Permit(ctx, permit...); err != nil {
		return secured{}, err
	}
	s := newSessionID()
	replied := make(chan error, 1)
	go func() {
		_, err := n.sig.Request(ctx, signaling.PeerOf(addr), signaling.TypeRelay,
			relayBody{Session: s.String(), Relayed: alloc.RelayedAddr().String()})
		replied <- err
	}()
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
	var raw net.Conn
	select {
	case raw = <-accepted:
	case err := <-acceptErr:
		return secured{}, fmt.Errorf("relay accept: %w", err)
	case err := <-replied:
		if err != nil {
			return secured{}, fmt.Errorf("relay request: %w", err)
		}
		select {
		case raw = <-accepted:
		case err := <-acceptErr:
			return secured{}, fmt.Errorf("relay accept: %w", err)
		}
	}
	return n.handshake(ctx, raw, s, checkPreamble, false, addr.NodeID)
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
