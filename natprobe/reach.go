package natprobe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
)

// DialBack asks the STUN servers that offer the dial-back extension (see
// AttrDialBack) to connect to a listen port: it tells whether the port is
// reachable from the Internet, which STUN alone cannot (a forwarded port
// looks like any cone NAT, a firewall like no NAT at all).
type DialBack struct {
	// Port is the TCP listen port to check. Required.
	Port uint16
	// Data returns the bytes the server writes once connected (see
	// DialBackRequest.Data); nil sends nothing.
	Data func() []byte
	// Accept tells whether the bytes that came back are the listener's
	// answer. Nil accepts any byte.
	Accept func(answer []byte) bool
}

// ReachState is what the dial-back checks of one interface concluded.
type ReachState string

// Reach states.
const (
	ReachUnknown     ReachState = "unknown"     // not checked, or no server offers dial-back
	ReachReachable   ReachState = "reachable"   // a server connected and the listener answered
	ReachUnreachable ReachState = "unreachable" // servers dialed, and none reached the listener
)

// MarshalText encodes the state; the zero value is "unknown".
func (s ReachState) MarshalText() ([]byte, error) {
	if s == "" {
		return []byte(ReachUnknown), nil
	}
	return []byte(s), nil
}

// Reach is the reachability of one interface's listen port over TCP.
type Reach struct {
	State ReachState `json:"state"`
	// Port is the listen port checked; zero when none was.
	Port uint16 `json:"port,omitempty"`
	// CheckedAt is when the checks finished; zero when none ran.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Reason says why the state is unknown.
	Reason string `json:"reason,omitempty"`
	// Checks holds one dial-back exchange per server.
	Checks []DialBackCheck `json:"checks,omitempty"`
}

// DialBackCheck is one server's dial-back.
type DialBackCheck struct {
	Server string         `json:"server"`
	Addr   netip.AddrPort `json:"addr,omitzero"`
	// Dialed is the address the server dialed (our source IP as it saw
	// it, and the port asked about).
	Dialed    netip.AddrPort  `json:"dialed,omitzero"`
	Outcome   DialBackOutcome `json:"outcome"`
	ConnectMS int64           `json:"connect_ms,omitempty"`
	// Accepted reports whether the bytes that came back were the
	// listener's answer (DialBack.Accept).
	Accepted bool   `json:"accepted,omitempty"`
	Error    string `json:"error,omitempty"`
}

// ProbeReach is Probe plus the dial-back checks of db.Port from every
// interface, run alongside the other tests; each TCP result is then
// corrected by ApplyReach.
func (p *Prober) ProbeReach(ctx context.Context, db DialBack) Report {
	return p.probe(ctx, &db)
}

// checkReach asks every target, concurrently and over TCP from la, to dial
// back db.Port at our source IP.
func (p *Prober) checkReach(ctx context.Context, la LocalAddr, targets []target, db *DialBack) Reach {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialBackTimeout)
	defer cancel()
	checks := make([]DialBackCheck, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { checks[i] = p.dialBack(ctx, la.IP, t, db) })
	}
	wg.Wait()
	r := ClassifyReach(checks)
	r.Port, r.CheckedAt = db.Port, p.cfg.Now()
	p.log.Debug("reach", "local", la.IP, "port", db.Port, "state", r.State, "reason", r.Reason)
	return r
}

// The dial timeout a dial-back asks for: a few round trips to the server
// (the connection to the listen port takes the same path), within bounds.
const (
	dialBackRTTs       = 4
	dialBackMinTimeout = 500 * time.Millisecond
	dialBackMaxTimeout = 2 * time.Second
)

// dialBack does one dial-back exchange with t from local.
func (p *Prober) dialBack(ctx context.Context, local netip.Addr, t target, db *DialBack) DialBackCheck {
	check := DialBackCheck{Server: t.name, Addr: t.addr}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))}
	start := time.Now()
	c, err := d.DialContext(ctx, tcpNetwork(t.addr.Addr()), t.addr.String())
	if err != nil {
		check.Error = fmt.Sprintf("tcp %s: %v", t.addr, err)
		return check
	}
	defer abort(c)
	req := DialBackRequest{
		Target:  netip.AddrPortFrom(unspecified(local), db.Port),
		Timeout: min(max(dialBackRTTs*time.Since(start), dialBackMinTimeout), dialBackMaxTimeout),
	}
	if db.Data != nil {
		req.Data = db.Data()
	}
	m, err := newRequest(change{}, req)
	if err != nil {
		check.Error = err.Error()
		return check
	}
	a, err := tcpTransact(ctx, c, m)
	if err != nil {
		check.Error = fmt.Sprintf("tcp %s: %v", t.addr, err)
		return check
	}
	if a.DialBack == nil {
		check.Error = "the server does not offer dial-back"
		return check
	}
	check.Dialed = netip.AddrPortFrom(a.Mapped.Addr(), db.Port)
	check.Outcome = a.DialBack.Outcome
	check.ConnectMS = a.DialBack.Connect.Milliseconds()
	if check.Outcome == DialBackAnswered {
		check.Accepted = db.Accept == nil || db.Accept(a.DialBack.Answer)
	}
	return check
}

func unspecified(ip netip.Addr) netip.Addr {
	if ip.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// ClassifyReach concludes from the dial-back checks of one interface:
// reachable when a server reached the listener and it answered as
// expected; unreachable when servers dialed and none did; unknown when no
// server dialed (none offers the extension, or none answered).
func ClassifyReach(checks []DialBackCheck) Reach {
	r := Reach{State: ReachUnknown, Checks: checks}
	dialed := 0
	for _, c := range checks {
		switch {
		case c.Accepted:
			r.State = ReachReachable
			return r
		case c.Outcome != DialBackNone:
			dialed++
		}
	}
	switch {
	case dialed > 0:
		r.State = ReachUnreachable
	case len(checks) == 0:
		r.Reason = "no stun server to ask for a dial-back"
	default:
		r.Reason = "no stun server dialed back"
	}
	return r
}

// ApplyReach corrects a TCP result with what the dial-back checks found:
//
//   - reachable: the listen port takes unsolicited connections, so the
//     interface is open whatever STUN saw (a forwarded port looks like a
//     cone NAT);
//   - unreachable with no NAT (open): a firewall filters unsolicited
//     connections, so the interface is reported as an endpoint-independent
//     mapping with port-restricted filtering and delta equal, which is
//     what punching needs;
//   - otherwise the result stands.
//
// Each correction is noted in the result.
func ApplyReach(r Result, reach Reach) Result {
	switch {
	case reach.State == ReachReachable && r.NAT != address.NATOpen:
		r.note(fmt.Sprintf("dial-back reached listen port %d: open, not %s (a forwarded port or no filtering)", reach.Port, r.NAT))
		r.NAT = address.NATOpen
		if !r.ExternalIP.IsValid() {
			for _, c := range reach.Checks {
				if c.Accepted {
					r.ExternalIP = c.Dialed.Addr()
					break
				}
			}
		}
		if r.Delta == address.DeltaUnknown {
			r.Delta = address.DeltaNA
		}
	case reach.State == ReachUnreachable && r.NAT == address.NATOpen:
		r.note(fmt.Sprintf("dial-back could not reach listen port %d: filtered, port-restricted cone without translation", reach.Port))
		r.NAT = address.NATPortRestrictedCone
		r.Filtering = BehaviorAddressPortDependent
		r.Delta, r.DeltaValue = address.DeltaEqual, 0
	}
	return r
}

// CheckPort asks every server that offers dial-back, over TCP from local,
// to dial db.Port at our source IP as it sees it: for a port the gateway
// forwards (package portmap), which may differ from the listen port.
func (p *Prober) CheckPort(ctx context.Context, local netip.Addr, db DialBack) Reach {
	targets, _, reason := targetsFor(p.resolve(ctx), local)
	if len(targets) == 0 {
		return Reach{State: ReachUnknown, Reason: reason}
	}
	return p.checkReach(ctx, LocalAddr{IP: local}, targets, &db)
}

// ApplyReachUDP corrects a UDP result with what the dial-back checks of
// the same interface found: a UDP result of no NAT at all (open) while the
// listen port is unreachable over TCP means a firewall filters the
// interface; unless the UDP filtering tests showed endpoint-independent
// filtering, UDP is reported filtered too (a symmetric UDP firewall), not
// open. (An IPv6 interface behind a stateful firewall is the usual case:
// no translation, and the UDP filtering tests untested or refused.)
func ApplyReachUDP(r Result, reach Reach) Result {
	if reach.State == ReachUnreachable && r.NAT == address.NATOpen && r.Filtering != BehaviorEndpointIndependent {
		r.note(fmt.Sprintf("dial-back could not reach tcp listen port %d and no udp test showed endpoint-independent filtering: filtered, not open", reach.Port))
		r.NAT = address.NATSymmetricUDPFirewall
	}
	return r
}
