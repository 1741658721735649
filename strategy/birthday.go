package strategy

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
)

// Birthday punching is the punch strategy's mode for a pair where one NAT
// maps to random ports (hard) and the other predictably (easy): the hard
// side opens many mappings, the easy side probes random ports of the hard
// side's external IP (punch.Birthday). It travels in the punch request
// with Mode "birthday"; the hard side's endpoint carries port 0.

// modeBirthday is punchBody.Mode for a birthday punch.
const modeBirthday = "birthday"

// Birthday is a node's birthday punch setting.
type Birthday struct {
	// Off turns birthday punching off: the plan skips the punch for a
	// hard-easy pair, and a peer's birthday request is refused. Default
	// on.
	Off bool
	// SYNs and Sockets are the budget of one attempt on our side (see
	// punch.BirthdayConfig). Zero means punch's defaults (1,024 SYNs,
	// 1,280 sockets).
	SYNs, Sockets int
}

// BirthdayEnv is what a node that can birthday-punch adds to Env. An Env
// without it never does.
type BirthdayEnv interface {
	// Birthday is the node's setting.
	Birthday() Birthday
	// BeginBirthday takes the node's one birthday punch slot, so that
	// peers cannot make it hold more than one attempt's sockets at once;
	// while another attempt runs it waits for its end until ctx is done,
	// then returns false. end gives the slot back.
	BeginBirthday(ctx context.Context) (end func(), ok bool)
}

// birthdayWait is how long an initiator waits for the node's birthday
// slot: about one attempt (punch.BirthdayDuration at a short round trip).
const birthdayWait = 4 * time.Second

// beginBirthday takes the node's birthday slot (BirthdayEnv.BeginBirthday)
// before anything is signalled, waiting at most wait for an attempt that
// runs: an initiator waits for the end of the one before (an attempt holds
// its sockets until about 2 s after its meeting time), a responder says at
// once that it is busy (waiting would miss the meeting time).
func beginBirthday(ctx context.Context, env Env, wait time.Duration) (end func(), err error) {
	if be, ok := env.(BirthdayEnv); ok {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if end, ok := be.BeginBirthday(wctx); ok {
			return end, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrUnpunchable, ErrBirthdayBusy)
	}
	return nil, fmt.Errorf("%w: birthday punching is off", ErrUnpunchable)
}

func birthdayOf(env Env) Birthday {
	if b, ok := env.(BirthdayEnv); ok {
		return b.Birthday()
	}
	return Birthday{Off: true}
}

// birthdayPair picks the IPv4 interfaces for a birthday punch, ours and
// the peer's, and our side: one NAT maps to random ports, the other is
// predictable and not open (an open side needs no birthday: its listener
// takes the peer from any port). ok is false when no pair fits, hard ↔
// hard included.
func birthdayPair(self, peer address.Address) (ours, theirs address.Interface, side punch.BirthdaySide, ok bool) {
	o, ok1 := punchable(self.IPv4)
	t, ok2 := punchable(peer.IPv4)
	if !ok1 || !ok2 || open(o) || open(t) {
		return o, t, 0, false
	}
	switch {
	case random(o) && predictable(t):
		return o, t, punch.BirthdayHard, true
	case predictable(o) && random(t):
		return o, t, punch.BirthdayEasy, true
	}
	return o, t, 0, false
}

// random reports whether an interface's NAT maps each connection to a
// random port.
func random(it address.Interface) bool { return it.Delta == address.DeltaRandom }

// birthdayJudge is the punch's judgement of a pair that a plain punch
// cannot serve: Possible when a birthday punch can (the odds depend on
// the budgets and on whether the NATs reset), else skipped for why.
func birthdayJudge(self, peer address.Address, cfg PlanConfig, why string) Judgement {
	if !cfg.Birthday {
		return Judgement{Skip: why}
	}
	if _, _, _, ok := birthdayPair(self, peer); !ok {
		return Judgement{Skip: why}
	}
	return Judgement{Chance: Possible}
}

// initiateBirthday is Initiate for a birthday pair.
func initiateBirthday(ctx context.Context, env Env, call Call, self address.Address, why string) (Raw, error) {
	conf := birthdayOf(env)
	ours, _, side, ok := birthdayPair(self, call.Peer)
	if conf.Off || !ok {
		return Raw{}, fmt.Errorf("%w: %s", ErrUnpunchable, why)
	}
	end, err := beginBirthday(ctx, env, birthdayWait)
	if err != nil {
		return Raw{}, err
	}
	defer end()
	prep, err := prepareBirthday(ctx, env, ours, side)
	if err != nil {
		return Raw{}, err
	}
	defer prep.release()
	peer := signaling.PeerOf(call.Peer)
	// The round trip the node knows, as for punch (strategy/punch.go).
	rtt, known := env.SignalingRTT(call.Peer.NodeID)
	if !known {
		if rtt, err = env.Echo(ctx, peer); err != nil {
			return Raw{}, fmt.Errorf("measure signaling rtt: %w", err)
		}
	}
	at := punch.MeetingTime(env.Now(), rtt)
	call.eta(time.Now().Add(at.Sub(env.Now()) + punch.BirthdayDuration(0, rtt) + 2*rtt))
	s := NewTicket()
	call.markAt(MarkMeetingTime, time.Now().Add(at.Sub(env.Now())))
	call.mark(MarkSignalingSent)
	rb, err := request(ctx, env, peer, msgPunch, punchBody{
		requestHead: requestHead{Ticket: s.String(), Address: self.String()},
		Endpoint:    prep.external.String(), AtMS: at.UnixMilli(), RTTMS: rtt.Milliseconds(), Mode: modeBirthday,
	}, msgPunchReply)
	if err != nil {
		return Raw{}, err
	}
	call.mark(MarkSignalingAnswered)
	remote, err := netip.ParseAddrPort(rb.Endpoint)
	if err != nil {
		return Raw{}, fmt.Errorf("%w: punch reply endpoint %q: %w", ErrUnexpectedReply, rb.Endpoint, err)
	}
	if ip := remote.Addr().Unmap(); !isExternal(call.Peer, ip) {
		return Raw{}, fmt.Errorf("%w: punch reply endpoint %s is not the peer's external address", ErrUnexpectedReply, remote)
	}
	return meetBirthday(ctx, env, conf, prep, side, remote, at, rtt, s, call.Peer.NodeID, call)
}

// respondBirthday is Respond for a birthday request b, whose endpoint
// remote has been checked to be the sender's.
func respondBirthday(ctx context.Context, env Env, m *signaling.Message, b punchBody, s Ticket, self address.Address, remote netip.AddrPort) (Raw, error) {
	conf := birthdayOf(env)
	if conf.Off {
		return Raw{}, fmt.Errorf("%w: birthday punching is off", ErrUnpunchable)
	}
	if !remote.Addr().Unmap().Is4() {
		return Raw{}, badRequest("birthday endpoint %s is not IPv4", remote)
	}
	ours, ok := punchable(self.IPv4)
	if !ok || open(ours) {
		return Raw{}, fmt.Errorf("%w: we have no IPv4 interface behind a known NAT", ErrUnpunchable)
	}
	// The hard side sends port 0: it cannot know its port.
	var side punch.BirthdaySide
	switch {
	case remote.Port() == 0 && predictable(ours):
		side = punch.BirthdayEasy
	case remote.Port() != 0 && random(ours):
		side = punch.BirthdayHard
	default:
		return Raw{}, fmt.Errorf("%w: not a hard-easy pair for a birthday punch", ErrUnpunchable)
	}
	end, err := beginBirthday(ctx, env, 0)
	if err != nil {
		return Raw{}, err
	}
	defer end()
	prep, err := prepareBirthday(ctx, env, ours, side)
	if err != nil {
		return Raw{}, err
	}
	if err := env.Reply(ctx, m, msgPunchReply, punchReplyBody{Endpoint: prep.external.String()}); err != nil {
		prep.release()
		return Raw{}, fmt.Errorf("%w: punch reply: %w", ErrAnswered, err)
	}
	raw, err := meetBirthday(ctx, env, conf, prep, side, remote, time.UnixMilli(b.AtMS), peerRTT(env, m, b), s, m.From, Call{})
	if err != nil {
		return Raw{}, fmt.Errorf("%w: %w", ErrAnswered, err)
	}
	return raw, nil
}

// prepareBirthday is preparePunch for a birthday side: the easy side
// reserves and predicts its port; the hard side has only its external IP
// (port 0) to tell, and binds its interface's IP.
func prepareBirthday(ctx context.Context, env Env, ifc address.Interface, side punch.BirthdaySide) (punchPrep, error) {
	if side == punch.BirthdayEasy {
		return preparePunch(ctx, env, ifc)
	}
	return punchPrep{
		local:    netip.AddrPortFrom(ifc.InternalIP, 0),
		external: netip.AddrPortFrom(ifc.ExternalIP, 0),
		release:  func() {},
	}, nil
}

// meetBirthday runs our side of the birthday punch at the meeting time.
// Both sides dialled, as in a punch: both send and check the preamble,
// and the node IDs give the TLS roles.
func meetBirthday(ctx context.Context, env Env, conf Birthday, prep punchPrep, side punch.BirthdaySide, remote netip.AddrPort, at time.Time, rtt time.Duration, s Ticket, peer string, call Call) (Raw, error) {
	prep.release() // Birthday binds the port itself
	c, err := punch.Birthday(ctx, punch.BirthdayConfig{
		Side:      side,
		LocalAddr: prep.local,
		Remote:    remote,
		At:        at,
		Now:       env.Now,
		SYNs:      conf.SYNs,
		Sockets:   conf.Sockets,
		RTT:       rtt,
		Logger:    env.Logger(),
		FirstDial: func() { call.mark(MarkFirstSYN) },
	})
	if err != nil {
		return Raw{}, err
	}
	call.mark(MarkTCPEstablished)
	return Raw{Conn: c, Ticket: s, SendPreamble: true, CheckPreamble: true,
		Client: punch.Role(env.ID(), peer) == punch.RoleClient}, nil
}
