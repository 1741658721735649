// Package rendezvous runs the public-side services of a reachd deployment in
// one process: an MQTT 3.1.1 broker for signaling (over TCP and, optionally,
// WebSocket), a STUN server for NAT discovery and a TURN server with TCP
// allocations (RFC 6062) for relaying. The STUN server also dials back, over
// TCP, the listen port a node asks about at the node's own source IP, so the
// node learns whether it is reachable (natprobe.AttrDialBack); the TURN
// server's Binding answers do not.
//
// The broker admits only reachd nodes, signed in with their node key
// (signaling.Login): a node reads only its own topic and the group topics it
// names exactly, and may write to any node's or group's topic. With
// Config.MQTTAnonymous anyone may connect, publish and subscribe (reachd
// signs and seals every signaling message end to end all the same). The
// broker also answers a name service (package names, rendezvous/names.go)
// on its service topic, unless Config.NamesOff: public names that nodes
// register with records signed by their key, kept in memory. It
// keeps no retained messages and limits the number of sessions, packet size,
// queues and session lifetimes (Config.MQTT*), which MQTT 5 clients learn
// from the CONNACK. TURN uses long-term
// credentials; a TCP connection to it must send each message whole within
// seconds. Every listener waits out accept failures (a full file table) and
// logs them, like every warning a stranger can cause, at most about once a
// second.
//
// It is not a cluster and has no persistence. A deployment that outgrows one
// process points its nodes at a clustered broker and a pool of TURN servers
// (coturn) instead.
package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/signaling"
)

// Defaults for the zero fields of Config.
const (
	DefaultMQTTListen = ":1883"
	DefaultTURNListen = ":3478"
	DefaultRealm      = "reachd"
)

// Config configures a rendezvous Server. The zero value serves MQTT on
// :1883 and STUN/TURN on :3478 (UDP and TCP) with no TURN users.
//
// A server may run one role alone (NoBroker, NoTURN, an empty STUNListen),
// so that relays scale apart from signaling; at least one must remain.
type Config struct {
	// NoBroker turns the MQTT broker off (the MQTT fields are then ignored):
	// a STUN/TURN machine of a pool whose signaling runs elsewhere.
	NoBroker bool
	// NoTURN turns the TURN server off (TURNListen, TURNUsers, PublicIP and
	// Realm are then ignored); STUN is then served on STUNListen only.
	NoTURN bool
	// MQTTListen is the broker's TCP address, "host:port". Port 0 picks a
	// free port (see Server.MQTTAddr). Default DefaultMQTTListen.
	MQTTListen string
	// MQTTWSListen is the address of MQTT over WebSocket: any path
	// upgrades, binary messages, subprotocol "mqtt". Empty disables it.
	MQTTWSListen string
	// MQTTAnonymous opens the broker to any client, signed in or not, to
	// read and write any topic. Default false: only nodes signed in with
	// their node key (signaling.Login) may connect; each may subscribe to
	// its own topic and to group topics (exact names, no wildcards) and
	// publish to any node's or group's topic.
	MQTTAnonymous bool
	// MQTTNames are further addresses ("host:port") nodes reach the broker
	// at and sign their login for: a DNS name, or the address of a proxy or
	// NAT in front of it. The address of the socket a client reached (and
	// localhost on loopback) is always accepted.
	MQTTNames []string
	// MQTTLoginSkew is how far a login's time may be from the broker's
	// clock, either way. Default signaling.MaxLoginSkew.
	MQTTLoginSkew time.Duration
	// MQTTMaxClients caps the broker's sessions: connected clients and the
	// disconnected sessions it keeps. A new client beyond it is refused
	// (CONNACK "server unavailable"). Default DefaultMQTTMaxClients.
	MQTTMaxClients int
	// MQTTSessionExpiry is how long a disconnected persistent session (clean
	// session off) is kept with its subscriptions and queued messages; a
	// client asking for longer gets this. reachd nodes use clean sessions.
	// At least 1s. Default DefaultMQTTSessionExpiry.
	MQTTSessionExpiry time.Duration
	// MQTTMaxInflight caps the QoS 1 and 2 messages held for one client:
	// sent and not yet acknowledged, or kept for its disconnected session.
	// More are dropped. Default DefaultMQTTMaxInflight.
	MQTTMaxInflight int
	// MQTTMaxQueued caps the packets waiting to be written to one connected
	// client. Default DefaultMQTTMaxQueued.
	MQTTMaxQueued int
	// MQTTMaxPacket is the largest MQTT packet accepted, in bytes; a client
	// sending a larger one is disconnected. Default DefaultMQTTMaxPacket.
	MQTTMaxPacket int
	// STUNListen holds one or two STUN addresses (see STUNConfig.Listen;
	// two make an RFC 5780 server, the second being the "other" address).
	//
	// The TURN server answers plain Binding requests on TURNListen. When
	// STUNListen[0] equals TURNListen (same IP and the same non-zero port),
	// the two cannot both bind it, so TURN serves that address and the STUN
	// server gets only STUNListen[1:]. The shared address then answers
	// without the RFC 5780 attributes (no OTHER-ADDRESS, no CHANGE-REQUEST):
	// for NAT filtering tests give STUN its own two addresses.
	//
	// Empty: no separate STUN server; Binding requests are answered on
	// TURNListen only (none at all with NoTURN).
	STUNListen []string
	// TURNListen is the TURN address, served over UDP and TCP on the same
	// port. The host must be an IP literal or empty (all addresses). Port 0
	// picks a port free on both (see Server.TURNAddr). Default
	// DefaultTURNListen.
	TURNListen string
	// TURNUsers maps TURN user names to passwords (long-term credentials,
	// RFC 8489 section 9.2). Empty: every allocation is refused; Binding
	// requests are still answered.
	TURNUsers map[string]string
	// PublicIP is the address TURN relays advertise. Relays are bound on
	// TURNListen's IP (on 0.0.0.0 when that is unspecified; IPv6 relays then
	// need an IPv6 TURNListen). Default: TURNListen's IP, or 127.0.0.1 when
	// it is unspecified, which only serves the local host.
	PublicIP netip.Addr
	// DialBackFrom is the source IP of reachability dial-backs, on the
	// STUN addresses and on the one TURN shares with STUN (see
	// STUNConfig.DialBackFrom): an address of this host that nodes never
	// contact. Zero: another of the STUN and TURN IPs than the one asked.
	DialBackFrom netip.Addr
	// Realm is the TURN realm. Default DefaultRealm.
	Realm string
	// NamesOff turns the name service off. By default the broker serves a
	// registry of public names (package names; rendezvous/names.go).
	NamesOff bool
	// Names configures the name service's registry (limits per key and
	// per source IP, the longest record life); zero fields take the names
	// package's defaults.
	Names names.RegistryConfig
	// Logger receives the logs of every part, mochi's and pion's included,
	// with a "component" attribute ("mqtt", "stun", "turn"). Nil discards
	// them.
	Logger *slog.Logger
}

// Server runs the broker, STUN and TURN until Close.
type Server struct {
	cancel context.CancelFunc
	broker *broker
	turn   *turnServer
	stun   *STUNServer // nil when TURN answers Binding requests alone
	shared bool        // TURN answers on the primary STUN address

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, binds every listener and serves in the background. On
// error nothing is left bound or running. Errors caused by cfg itself wrap
// ErrInvalidConfig.
func New(cfg Config) (_ *Server, err error) {
	if cfg.MQTTListen == "" {
		cfg.MQTTListen = DefaultMQTTListen
	}
	if cfg.TURNListen == "" {
		cfg.TURNListen = DefaultTURNListen
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if _, err := mqttLimitsOf(cfg); err != nil {
		return nil, err
	}
	stunListen := cfg.STUNListen
	shared := !cfg.NoTURN && len(stunListen) == 0
	if !cfg.NoTURN && !shared && sameFixedAddr(stunListen[0], cfg.TURNListen) {
		shared, stunListen = true, stunListen[1:]
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel, shared: shared}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	// One dial-back service for the STUN server and the address TURN
	// shares with it, so that both can check reachability.
	var db *dialBacker
	if len(stunListen) > 0 {
		s.stun, err = NewSTUNServer(STUNConfig{Listen: stunListen, DialBackFrom: cfg.DialBackFrom, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		db = s.stun.dialBack
	} else {
		db = newDialBacker(STUNConfig{DialBackFrom: cfg.DialBackFrom}, cfg.Logger.With("component", "stun"))
	}
	if !cfg.NoTURN {
		if s.turn, err = newTURN(ctx, cfg, db, cfg.Logger.With("component", "turn")); err != nil {
			return nil, err
		}
	}
	if !cfg.NoBroker {
		if s.broker, err = newBroker(ctx, cfg, cfg.Logger.With("component", "mqtt")); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func validate(cfg Config) error {
	if cfg.NoBroker && cfg.NoTURN && len(cfg.STUNListen) == 0 {
		return fmt.Errorf("%w: no role left: the broker, STUN and TURN are all off", ErrInvalidConfig)
	}
	if len(cfg.STUNListen) > 2 {
		return fmt.Errorf("%w: stun listen: need at most 2 addresses, got %d", ErrInvalidConfig, len(cfg.STUNListen))
	}
	if _, _, err := parseHostPort(cfg.TURNListen); err != nil {
		return fmt.Errorf("%w: turn listen %q: %v", ErrInvalidConfig, cfg.TURNListen, err)
	}
	for _, n := range cfg.MQTTNames {
		if _, err := signaling.NormalizeAddr(n); err != nil {
			return fmt.Errorf("%w: mqtt name %q: %v", ErrInvalidConfig, n, err)
		}
	}
	if cfg.MQTTLoginSkew < 0 {
		return fmt.Errorf("%w: mqtt login skew %v: want a positive duration", ErrInvalidConfig, cfg.MQTTLoginSkew)
	}
	for user := range cfg.TURNUsers {
		if user == "" {
			return fmt.Errorf("%w: turn users: empty user name", ErrInvalidConfig)
		}
	}
	return nil
}

// sameFixedAddr reports whether two listen addresses name the same IP and
// the same non-zero port (port 0 binds a fresh port each time).
func sameFixedAddr(a, b string) bool {
	ipA, portA, errA := parseHostPort(a)
	ipB, portB, errB := parseHostPort(b)
	return errA == nil && errB == nil && portA != 0 && portA == portB && ipA == ipB
}

// MQTTAddr returns the broker's bound TCP address, "host:port"
// (clients use mqtt://MQTTAddr()), or "" when the broker is off.
func (s *Server) MQTTAddr() string {
	if s.broker == nil {
		return ""
	}
	return s.broker.tcp.Address()
}

// MQTTWSAddr returns the bound MQTT-over-WebSocket address, "host:port"
// (clients use ws://MQTTWSAddr()/mqtt or any other path), or "" when
// WebSocket is off.
func (s *Server) MQTTWSAddr() string {
	if s.broker == nil || s.broker.ws == nil {
		return ""
	}
	return s.broker.ws.Address()
}

// STUNAddrs returns the addresses that answer STUN Binding requests over
// UDP and TCP: the primary first, then the RFC 5780 other address if any.
// When TURN serves the primary (see Config.STUNListen), the first is
// TURNAddr.
func (s *Server) STUNAddrs() []netip.AddrPort {
	var addrs []netip.AddrPort
	if s.shared {
		addrs = append(addrs, s.turn.addr)
	}
	if s.stun != nil {
		addrs = append(addrs, s.stun.Addrs()...)
	}
	return addrs
}

// TURNAddr returns the TURN server's bound address (UDP and TCP), or the
// zero AddrPort when TURN is off.
func (s *Server) TURNAddr() netip.AddrPort {
	if s.turn == nil {
		return netip.AddrPort{}
	}
	return s.turn.addr
}

// Close stops every service, closes every connection and waits for the
// goroutines of this package. mochi and pion do not wait for all of their own;
// Close closes every socket they use, so theirs exit promptly. Close is safe
// to call more than once and returns the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		var errs []error
		if s.broker != nil {
			errs = append(errs, s.broker.close())
		}
		if s.stun != nil {
			errs = append(errs, s.stun.Close())
		}
		if s.turn != nil {
			errs = append(errs, s.turn.close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
