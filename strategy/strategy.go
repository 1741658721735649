// Package strategy holds reachd's connection strategies behind one
// boundary: direct, reverse, punch and relay. Each strategy lives in one
// file with both of its roles, the initiator ([Strategy.Initiate]) and the
// responder that answers the peer's signaling ([Strategy.Respond]), and its
// own typed signaling bodies. [Plan] ranks them from both peers' addresses.
//
// A strategy makes a raw transport ([Raw]) and says how it must be
// secured (which side sends or checks the preamble, which side is the TLS
// client); it does not run TLS, keep connections or race: the node does.
// What a strategy needs from the node it gets through [Env], declared here.
//
// Adding a strategy means one file implementing [Strategy] and a line in
// [All].
package strategy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/turn"
)

// Strategy names.
const (
	Direct  = "direct"
	Reverse = "reverse"
	Punch   = "punch"
	Relay   = "relay"
)

// All lists every strategy in the default order of preference.
var All = []Strategy{direct{}, reverse{}, punchStrategy{}, relay{}}

// Names is the default order of preference, by name.
func Names() []string {
	out := make([]string, len(All))
	for i, s := range All {
		out[i] = s.Name()
	}
	return out
}

// ByName finds a strategy.
func ByName(name string) (Strategy, bool) {
	for _, s := range All {
		if s.Name() == name {
			return s, true
		}
	}
	return nil, false
}

// Strategy is one way to make a raw transport between two peers.
type Strategy interface {
	// Name is the strategy's name in the API.
	Name() string
	// Timeout bounds one initiator attempt.
	Timeout() time.Duration
	// Judge says, from both addresses alone, whether the strategy can work
	// from self to peer and how likely it is to.
	Judge(self, peer address.Address, cfg PlanConfig) Judgement
	// Initiate makes a raw transport to call.Peer, within ctx.
	Initiate(ctx context.Context, env Env, call Call) (Raw, error)
	// Request is the signaling message type the strategy's responder
	// answers; nil for a strategy whose peer needs no signaling.
	Request() signaling.Kind
	// Respond answers the peer's request m and makes our end of the raw
	// transport. An error is sent back to the peer, unless it wraps
	// ErrAnswered (the strategy has answered already).
	Respond(ctx context.Context, env Env, m *signaling.Message) (Raw, error)
}

// Call is one initiator attempt.
type Call struct {
	// Peer is the address to reach.
	Peer address.Address
	// ETA, when not nil, is told when the strategy expects to finish, once
	// it knows (the race holds costlier strategies back until then).
	ETA func(time.Time)
	// Mark, when not nil, is told of each moment of the attempt's
	// timeline (one of the Mark constants) as it happens, at on the local
	// clock.
	Mark func(name string, at time.Time)
}

func (c Call) eta(t time.Time) {
	if c.ETA != nil {
		c.ETA(t)
	}
}

// mark tells c.Mark of the moment name, now.
func (c Call) mark(name string) { c.markAt(name, time.Now()) }

func (c Call) markAt(name string, at time.Time) {
	if c.Mark != nil {
		c.Mark(name, at)
	}
}

// The moments an attempt's timeline records (a closed set).
const (
	MarkTURNAllocated     = "turn_allocated"     // relay: the TURN allocation is made (its permission goes out with the request)
	MarkSignalingSent     = "signaling_sent"     // the strategy's request is sent to the peer
	MarkSignalingAnswered = "signaling_answered" // the peer's reply arrived
	MarkMeetingTime       = "meeting_time"       // punch: the agreed time both sides dial
	MarkFirstSYN          = "first_syn"          // punch: the first dial started
	MarkTCPEstablished    = "tcp_established"    // the transport is connected
	MarkTLSDone           = "tls_done"           // the path handshake is done (set by the node)
	MarkCommitted         = "committed"          // the race kept the path (set by the race)
)

// Raw is a transport a strategy made, with how the node secures it: the
// preamble steps and the TLS role.
type Raw struct {
	Conn net.Conn
	// Ticket names the attempt in the preamble.
	Ticket Ticket
	// SendPreamble: we dialled and say which attempt this is.
	SendPreamble bool
	// CheckPreamble: the peer dialled and must name Ticket.
	CheckPreamble bool
	// Client is our TLS role.
	Client bool
}

// Env is what a strategy needs from the node.
type Env interface {
	// ID is our node ID.
	ID() string
	// Self is our own peer address; false before the first probe.
	Self() (address.Address, bool)
	// Request sends a signaling request and waits for its reply; a
	// refusal comes back as a *signaling.RemoteError.
	Request(ctx context.Context, peer signaling.Peer, k signaling.Kind, body any) (*signaling.Message, error)
	// Reply answers a peer's request.
	Reply(ctx context.Context, req *signaling.Message, k signaling.Kind, body any) error
	// Echo measures the signaling round trip to peer.
	Echo(ctx context.Context, peer signaling.Peer) (time.Duration, error)
	// SignalingRTT is the signaling round trip to the peer with node ID
	// peer as the node knows it without asking (earlier echoes, the
	// peer's link, its brokers' round trips); false when it knows none.
	SignalingRTT(peer string) (time.Duration, bool)
	// Expect registers a ticket whose raw connection peer will dial to
	// our listener, its preamble already read and answered; forget
	// unregisters it.
	Expect(s Ticket, peer string) (arrived <-chan net.Conn, forget func())
	// Now is the NTP-corrected clock.
	Now() time.Time
	// Mapper observes our external TCP mappings (STUN).
	Mapper() punch.Mapper
	// LastTCPMapping is the last TCP mapping the probe saw from ip.
	LastTCPMapping(ip netip.Addr) punch.Mapping
	// TURN lists the configured TURN server URLs.
	TURN() []string
	// TURNPool orders the TURN servers for an allocation and learns from
	// each; nil: the configured order.
	TURNPool() *turn.Pool
	// OnLink reports whether ip is on one of our links (a shared LAN).
	OnLink(ip netip.Addr) bool
	// Logger is the node's logger.
	Logger() *slog.Logger
}

// Ticket names one connection attempt across signaling and the wire: the
// raw connection the attempt makes names it in its preamble, so the side
// that waits for it can tell it from any other (ARCHITECTURE.md,
// glossary). The signaling bodies carry it in their "session" field.
type Ticket [16]byte

// NewTicket returns a random ticket.
func NewTicket() Ticket {
	var s Ticket
	rand.Read(s[:])
	return s
}

// IsZero reports whether s is the zero ticket (a direct connection).
func (s Ticket) IsZero() bool { return s == Ticket{} }

func (s Ticket) String() string { return hex.EncodeToString(s[:]) }

// ParseTicket parses the hex form of a ticket.
func ParseTicket(text string) (Ticket, error) {
	var s Ticket
	b, err := hex.DecodeString(text)
	if err != nil || len(b) != len(s) {
		return s, fmt.Errorf("ticket %q: want %d hex bytes", text, len(s))
	}
	copy(s[:], b)
	return s, nil
}
