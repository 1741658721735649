package strategy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
)

// punchStrategy predicts both sides' external endpoints, agrees a meeting
// time over signaling, and makes a TCP simultaneous open (package punch).
type punchStrategy struct{}

// Signaling bodies of the punch strategy.
type (
	// punchBody is the punch request; the endpoint's IP must be in its
	// head's address.
	punchBody struct {
		requestHead
		Endpoint string `json:"endpoint"`         // the sender's predicted external ip:port
		AtMS     int64  `json:"at_ms"`            // meeting time, unix ms on the NTP clock
		RTTMS    int64  `json:"rtt_ms,omitempty"` // the sender's signaling round trip, which sizes both sides' dial attempts
		Mode     string `json:"mode,omitempty"`   // "birthday" for a birthday punch (strategy/birthday.go), else empty
		// InitiatorClient asks that the initiator be the TLS client
		// (see meet); the reply says whether the responder agrees.
		InitiatorClient bool `json:"initiator_client,omitempty"`
	}
	punchReplyBody struct {
		Endpoint        string `json:"endpoint"`
		InitiatorClient bool   `json:"initiator_client,omitempty"`
	}
)

// Signaling messages of the punch strategy.
var (
	msgPunch      = signaling.NewType[punchBody]("punch")
	msgPunchReply = signaling.NewType[punchReplyBody]("punch_reply")
)

// maxMeetingAhead bounds how far ahead a proposed meeting time may lie.
const maxMeetingAhead = 5 * time.Second

// punchTimeout bounds an initiator's attempt, the preamble and TLS
// included. A punch at a round trip r takes the wait for the meeting time
// (about 1.25r; an echo of r before it when the node knows no round trip),
// up to a window of four attempts of 1.5r each (6r, at least 3s; see
// punch.Config.RTT), then the preamble and TLS (about 2r): 10.25r in all
// when the window runs out, 6.15s at the 600ms of a geostationary link,
// with jitter on top. Short paths keep their
// 3s window and are not slowed: the timeout only bounds a punch that
// fails.
const punchTimeout = 9 * time.Second

func (punchStrategy) Name() string            { return Punch }
func (punchStrategy) Timeout() time.Duration  { return punchTimeout }
func (punchStrategy) Request() signaling.Kind { return msgPunch }

func (punchStrategy) Judge(self, peer address.Address, cfg PlanConfig) Judgement {
	if _, _, why := punchPair(self, peer); why != "" {
		return birthdayJudge(self, peer, cfg, why)
	}
	return Judgement{Chance: Likely}
}

// punchPair picks the interfaces to punch between, ours and the peer's:
// IPv6 first (no NAT to predict behind a firewall), then IPv4. A pair
// works when both NATs are known and, unless one side is open (its punch
// listener takes the peer from any port), both map predictably. why says
// what is missing when no pair works, in IPv4's terms.
func punchPair(self, peer address.Address) (ours, theirs address.Interface, why string) {
	for _, fam := range [][2][]address.Interface{{self.IPv6, peer.IPv6}, {self.IPv4, peer.IPv4}} {
		o, ok1 := punchable(fam[0])
		t, ok2 := punchable(fam[1])
		switch {
		case !ok1:
			why = "we have no IPv4 interface with a known NAT"
		case !ok2:
			why = "the peer has no IPv4 interface with a known NAT"
		case open(o) || open(t):
			return o, t, ""
		case !predictable(t):
			why = "the peer's NAT maps ports at random (symmetric)"
		case !predictable(o):
			why = "our NAT maps ports at random (symmetric)"
		default:
			return o, t, ""
		}
	}
	return address.Interface{}, address.Interface{}, why
}

func (punchStrategy) Initiate(ctx context.Context, env Env, call Call) (Raw, error) {
	self, ok := env.Self()
	if !ok {
		return Raw{}, ErrNotReady
	}
	ours, _, why := punchPair(self, call.Peer)
	if why != "" {
		return initiateBirthday(ctx, env, call, self, why)
	}
	prep, err := preparePunch(ctx, env, ours)
	if err != nil {
		return Raw{}, err
	}
	defer prep.release()
	// The meeting time lies a little beyond a signaling round trip, so the
	// peer has our proposal and we have its reply before it comes. The
	// round trip is the one the node knows (an earlier echo, the link,
	// the brokers'); only a node that knows none measures it first.
	peer := signaling.PeerOf(call.Peer)
	rtt, known := env.SignalingRTT(call.Peer.NodeID)
	if !known {
		var err error
		if rtt, err = env.Echo(ctx, peer); err != nil {
			return Raw{}, fmt.Errorf("measure signaling rtt: %w", err)
		}
	}
	at := punch.MeetingTime(env.Now(), rtt)
	// Done by then: the SYNs cross, then TLS and the commit take a round
	// trip or two; the margin covers jitter.
	call.eta(time.Now().Add(at.Sub(env.Now()) + 2*rtt + 250*time.Millisecond))
	s := NewTicket()
	call.markAt(MarkMeetingTime, time.Now().Add(at.Sub(env.Now())))
	call.mark(MarkSignalingSent)
	rb, err := request(ctx, env, peer, msgPunch,
		punchBody{requestHead: requestHead{Ticket: s.String(), Address: self.String()}, Endpoint: prep.external.String(), AtMS: at.UnixMilli(), RTTMS: rtt.Milliseconds(),
			InitiatorClient: true}, msgPunchReply)
	if err != nil {
		return Raw{}, err
	}
	call.mark(MarkSignalingAnswered)
	remote, err := netip.ParseAddrPort(rb.Endpoint)
	if err != nil {
		return Raw{}, fmt.Errorf("%w: punch reply endpoint %q: %w", ErrUnexpectedReply, rb.Endpoint, err)
	}
	client := punch.Role(env.ID(), call.Peer.NodeID) == punch.RoleClient
	if rb.InitiatorClient {
		client = true
	}
	return meet(ctx, env, prep, remote, at, rtt, s, client, call)
}

func (punchStrategy) Respond(ctx context.Context, env Env, m *signaling.Message) (Raw, error) {
	b, s, peer, err := decodeRequest(m, msgPunch)
	if err != nil {
		return Raw{}, err
	}
	remote, err := netip.ParseAddrPort(b.Endpoint)
	if err != nil {
		return Raw{}, badRequest("endpoint %q: %w", b.Endpoint, err)
	}
	self, ok := env.Self()
	if !ok {
		return Raw{}, ErrNotReady
	}
	// The predicted port is the peer's to say; the IP must be its own.
	ip := remote.Addr().Unmap()
	if err := checkTarget(self, ip); err != nil {
		return Raw{}, err
	}
	if !isExternal(peer, ip) && !env.OnLink(ip) {
		return Raw{}, fmt.Errorf("%w: endpoint %s is not in the sender's address", ErrForbiddenTarget, remote)
	}
	at := time.UnixMilli(b.AtMS)
	if d := at.Sub(env.Now()); d > maxMeetingAhead {
		return Raw{}, badRequest("meeting time %v is too far ahead", d.Round(time.Millisecond))
	}
	switch b.Mode {
	case "":
	case modeBirthday:
		if !isExternal(peer, ip) {
			return Raw{}, fmt.Errorf("%w: endpoint %s is not the sender's external address", ErrForbiddenTarget, remote)
		}
		return respondBirthday(ctx, env, m, b, s, self, remote)
	default:
		return Raw{}, badRequest("unknown punch mode %q", b.Mode)
	}
	// Punch from our interface of the endpoint's family.
	list := self.IPv4
	if ip.Is6() {
		list = self.IPv6
	}
	ours, ok := punchable(list)
	if !ok {
		return Raw{}, fmt.Errorf("%w: we have no interface of %s's family with a known NAT", ErrUnpunchable, remote)
	}
	prep, err := preparePunch(ctx, env, ours)
	if err != nil {
		return Raw{}, err
	}
	client := punch.Role(env.ID(), m.From) == punch.RoleClient
	if b.InitiatorClient {
		client = false
	}
	if err := env.Reply(ctx, m, msgPunchReply, punchReplyBody{Endpoint: prep.external.String(), InitiatorClient: b.InitiatorClient}); err != nil {
		prep.release()
		return Raw{}, fmt.Errorf("%w: punch reply: %w", ErrAnswered, err)
	}
	raw, err := meet(ctx, env, prep, remote, at, peerRTT(env, m, b), s, client, Call{})
	if err != nil {
		// The initiator sees the failure itself.
		return Raw{}, fmt.Errorf("%w: %w", ErrAnswered, err)
	}
	return raw, nil
}

// punchPrep is a local port reserved for a punch and its predicted mapping.
type punchPrep struct {
	local    netip.AddrPort
	external netip.AddrPort
	release  func()
}

// preparePunch picks a local port on our interface ifc and predicts its
// external endpoint.
func preparePunch(ctx context.Context, env Env, ifc address.Interface) (punchPrep, error) {
	// Reserve a port (the listener shares it with Punch's sockets).
	network := "tcp4"
	if ifc.InternalIP.Is6() {
		network = "tcp6"
	}
	lc := net.ListenConfig{Control: punch.ReuseControl}
	ln, err := lc.Listen(ctx, network, netip.AddrPortFrom(ifc.InternalIP, 0).String())
	if err != nil {
		return punchPrep{}, fmt.Errorf("reserve punch port: %w", err)
	}
	local := ln.Addr().(*net.TCPAddr).AddrPort()
	ext, err := punch.PredictEndpoint(ctx, local, ifc, env.LastTCPMapping(ifc.InternalIP), env.Mapper())
	if err != nil {
		ln.Close()
		return punchPrep{}, fmt.Errorf("predict our mapping: %w", err)
	}
	return punchPrep{local: local, external: ext, release: func() { ln.Close() }}, nil
}

// peerRTT is the round trip the initiator measured, which it sends so
// that both sides size their dial attempts alike. From an initiator that
// does not send it, it is estimated as twice the request's one-way time on
// the shared clock (zero, today's sizing, when that is not plausible).
func peerRTT(env Env, m *signaling.Message, b punchBody) time.Duration {
	if b.RTTMS > 0 {
		return min(time.Duration(b.RTTMS)*time.Millisecond, maxMeetingAhead)
	}
	if oneWay := env.Now().Sub(m.Sent); oneWay > 0 && 2*oneWay <= maxMeetingAhead {
		return 2 * oneWay
	}
	return 0
}

// meet runs the simultaneous open from prep.local to remote at the meeting
// time, its dial attempts sized from the signaling round trip rtt. Both
// sides dialled: both send the preamble and check the other's; client is
// our TLS role. The initiator asks to be the TLS client
// (InitiatorClient): it is done with TLS, and commits, half a round trip
// before the server; a responder that does not know the field leaves the
// roles to the node IDs (punch.Role), and says nothing in its reply. call
// is told of the first dial and the connection.
func meet(ctx context.Context, env Env, prep punchPrep, remote netip.AddrPort, at time.Time, rtt time.Duration, s Ticket, client bool, call Call) (Raw, error) {
	prep.release() // Punch binds the port itself
	c, err := punch.Punch(ctx, punch.Config{
		LocalAddr: prep.local,
		Remote:    remote,
		At:        at,
		Now:       env.Now,
		RTT:       rtt,
		Logger:    env.Logger(),
		FirstDial: func() { call.mark(MarkFirstSYN) },
	})
	if err != nil {
		return Raw{}, err
	}
	call.mark(MarkTCPEstablished)
	return Raw{Conn: c, Ticket: s, SendPreamble: true, CheckPreamble: true, Client: client}, nil
}

// punchable is the first interface whose NAT is known and not blocked,
// with a routable external IP (a link-local one reaches no one beyond the
// link).
func punchable(items []address.Interface) (address.Interface, bool) {
	for _, it := range items {
		if it.NAT != address.NATBlocked && it.NAT != address.NATUnknown && !it.ExternalIP.IsLinkLocalUnicast() {
			return it, true
		}
	}
	return address.Interface{}, false
}
