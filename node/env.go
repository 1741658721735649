package node

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
	"github.com/reachd/reachd/turn"
)

// env is what the strategies get from the node.
type env struct{ n *Node }

var _ strategy.Env = env{}

func (e env) ID() string                                 { return e.n.ID() }
func (e env) Self() (address.Address, bool)              { return e.n.selfAddress() }
func (e env) Now() time.Time                             { return e.n.Now() }
func (e env) Mapper() punch.Mapper                       { return e.n.prober }
func (e env) TURN() []string                             { return e.n.cfg.TURN }
func (e env) TURNPool() *turn.Pool                       { return e.n.relays }
func (e env) Logger() *slog.Logger                       { return e.n.log }
func (e env) LastTCPMapping(ip netip.Addr) punch.Mapping { return e.n.lastTCPMapping(ip) }
func (e env) Birthday() strategy.Birthday                { return e.n.cfg.Birthday }

func (e env) BeginBirthday(ctx context.Context) (func(), bool) {
	select {
	case e.n.birthdaySlot <- struct{}{}:
		return func() { <-e.n.birthdaySlot }, true
	default:
	}
	select {
	case e.n.birthdaySlot <- struct{}{}:
		return func() { <-e.n.birthdaySlot }, true
	case <-ctx.Done():
		return nil, false
	}
}

var _ strategy.BirthdayEnv = env{}

func (e env) Request(ctx context.Context, peer signaling.Peer, k signaling.Kind, body any) (*signaling.Message, error) {
	return e.n.sig.Request(ctx, peer, k, body)
}

func (e env) Reply(ctx context.Context, req *signaling.Message, k signaling.Kind, body any) error {
	return e.n.sig.Reply(ctx, req, k, body)
}

func (e env) SignalingRTT(peer string) (time.Duration, bool) { return e.n.signalingRTT(peer) }

func (e env) Echo(ctx context.Context, peer signaling.Peer) (time.Duration, error) {
	rtt, _, err := e.n.sig.Echo(ctx, peer)
	return rtt, err
}

// OnLink reports whether ip falls in the prefix of one of our interface
// addresses (loopback excepted).
func (e env) OnLink(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() {
			continue
		}
		if p, err := netip.ParsePrefix(n.String()); err == nil && p.Masked().Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// expectation is a connection a strategy waits for on our listener.
type expectation struct {
	ch   chan net.Conn
	peer string // the node ID that must dial
}

// Expect registers a session whose connection peer will dial to our
// listener (reverse connect).
func (e env) Expect(s strategy.Ticket, peer string) (<-chan net.Conn, func()) {
	ch := make(chan net.Conn)
	t := &e.n.tickets
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[strategy.Ticket]expectation)
	}
	t.m[s] = expectation{ch, peer}
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		delete(t.m, s)
		t.mu.Unlock()
	}
}

// tickets are the connections strategies wait for on our listener, by
// the ticket their preamble names.
type tickets struct {
	mu sync.Mutex
	m  map[strategy.Ticket]expectation
}

// lookup finds the expectation of ticket s.
func (t *tickets) lookup(s strategy.Ticket) (expectation, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.m[s]
	return exp, ok
}

// lastTCPMapping is the last TCP mapping the probe saw from ip.
func (n *Node) lastTCPMapping(ip netip.Addr) punch.Mapping {
	n.stateMu.Lock()
	defer n.stateMu.Unlock()
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
