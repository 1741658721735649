package rendezvous

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pion/transport/v5/reuseport"
	"github.com/pion/turn/v5"

	"github.com/reachd/reachd/internal/acceptor"
	"github.com/reachd/reachd/internal/pionlog"
)

// turnConnectTimeout bounds the relay's outbound connection to a peer (a
// Connect request). RFC 6062 section 5.2 asks for at least 30 seconds.
const turnConnectTimeout = 30 * time.Second

// turnServer is pion's TURN server on a UDP socket and a TCP listener sharing
// one port. TCP allocations (RFC 6062) need a TCP control connection; pion
// keeps allocations per listener, so a TCP allocation's ConnectionBind must
// arrive on the same TCP listener, which it does.
type turnServer struct {
	srv  *turn.Server
	addr netip.AddrPort
	ln   *turnListener
}

// newTURN binds cfg.TURNListen and starts pion; its TCP listener serves
// dial-back requests with db. cfg has its defaults filled.
func newTURN(ctx context.Context, cfg Config, db *dialBacker, log *slog.Logger) (*turnServer, error) {
	listenIP, _, err := parseHostPort(cfg.TURNListen)
	if err != nil {
		return nil, fmt.Errorf("%w: turn listen %q: %v", ErrInvalidConfig, cfg.TURNListen, err)
	}
	uc, tl, err := listenUDPTCP(cfg.TURNListen)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: turn: %w", err)
	}
	bound := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	bound = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())

	// Relays bind on the listen IP (all IPv4 addresses when that is
	// unspecified: pion's static generators need an explicit address) and
	// advertise PublicIP.
	relayBind := "0.0.0.0"
	if listenIP.IsValid() && !listenIP.IsUnspecified() {
		relayBind = listenIP.String()
	}
	relayIP := relayAddr(cfg.PublicIP, listenIP)
	if !cfg.PublicIP.IsValid() && relayIP.IsLoopback() && (!listenIP.IsValid() || listenIP.IsUnspecified()) {
		log.Warn("turn relays advertise the loopback address; set PublicIP to serve other hosts", "relay_ip", relayIP)
	}
	gen := func() turn.RelayAddressGenerator {
		return &relayGenerator{
			RelayAddressGeneratorStatic: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.IP(relayIP.AsSlice()),
				Address:      relayBind,
			},
			bindIP: net.ParseIP(relayBind),
			ctx:    ctx,
		}
	}

	keys := make(map[string][]byte, len(cfg.TURNUsers))
	for user, pass := range cfg.TURNUsers {
		keys[user] = turn.GenerateAuthKey(user, cfg.Realm, pass)
	}
	patch := &turnPatch{realm: cfg.Realm, keys: keys} // see turnpatch.go
	if len(keys) == 0 {
		log.Warn("turn has no users: every allocation will be refused")
	}

	db.addIP(bound.Addr())
	ln := &turnListener{Listener: acceptor.New(tl, acceptor.Config{Logger: log}), patch: patch, dialBack: db, ctx: ctx}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: cfg.Realm,
		// pion logs an error for some malformed requests, one per
		// (spoofable) UDP packet: at most a few lines a second get through.
		LoggerFactory: pionlog.New(slog.New(throttled(log.Handler()))),
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			key, ok := keys[ra.Username]
			if !ok {
				log.Debug("turn unknown user", "user", ra.Username, "src", ra.SrcAddr)
			}
			return ra.Username, key, ok
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: &turnPacketConn{PacketConn: uc, patch: patch}, RelayAddressGenerator: gen()}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: gen()}},
	})
	if err != nil {
		_ = uc.Close()
		_ = tl.Close()
		return nil, fmt.Errorf("rendezvous: turn: %w", err)
	}
	log.Info("turn listening", "addr", bound, "relay_ip", relayIP, "realm", cfg.Realm, "users", len(keys))
	return &turnServer{srv: srv, addr: bound, ln: ln}, nil
}

// relayGenerator allocates relays with pion's static generator, which
// implements the RFC 6062 parts too: AllocateListener binds a relayed TCP
// listener and AllocateConn dials a peer from the relayed port (both with
// SO_REUSEPORT so they share it). Its AllocateConn is replaced because pion
// binds the outbound connection to the advertised address, which fails when
// PublicIP is not local (behind a 1:1 NAT), and dials without a timeout on
// pion's control-connection goroutine, so a silent peer would stall that
// client and Close for minutes.
type relayGenerator struct {
	*turn.RelayAddressGeneratorStatic
	bindIP net.IP
	ctx    context.Context // the server's lifetime
}

func (g *relayGenerator) AllocateConn(conf turn.AllocateConnConfig) (net.Conn, error) {
	local := conf.LocalAddr
	if a, ok := local.(*net.TCPAddr); ok {
		local = &net.TCPAddr{IP: g.bindIP, Port: a.Port}
	}
	d := net.Dialer{LocalAddr: local, Control: reuseport.Control, Timeout: turnConnectTimeout}
	return d.DialContext(g.ctx, conf.Network, conf.RemoteAddr.String())
}

// relayAddr is the address relays advertise: public when set, else the
// listen IP, else (listening on all addresses) the IPv4 loopback.
func relayAddr(public, listen netip.Addr) netip.Addr {
	switch {
	case public.IsValid():
		return public.Unmap()
	case listen.IsValid() && !listen.IsUnspecified():
		return listen
	default:
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
}

// close stops pion. pion closes its sockets but neither the client
// connections it accepted nor waits for its goroutines, so close also closes
// those connections and waits until pion has released each of them.
func (t *turnServer) close() error {
	err := t.srv.Close()
	t.ln.t.shutdown()
	t.ln.t.wait()
	return err
}
