package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/strategy"
)

// Strategy names, in their default order.
const (
	StrategyDirect  = strategy.Direct
	StrategyReverse = strategy.Reverse
	StrategyPunch   = strategy.Punch
	StrategyRelay   = strategy.Relay
)

// DefaultStrategies is the default order of preference.
var DefaultStrategies = strategy.Names()

// Errors of Connect.
var (
	ErrUnknownStrategy = errors.New("unknown strategy")
	ErrSelf            = errors.New("that address is this node's own")
	// ErrNotReady: the node does not know its own address yet (its first
	// probe has not finished) and the connect's time ran out waiting.
	ErrNotReady = strategy.ErrNotReady
)

// ConnectError is a connection that no strategy could make; Attempts says
// why each failed or was skipped.
type ConnectError struct {
	Peer     string
	Attempts []Attempt
}

func (e *ConnectError) Error() string {
	var parts []string
	for _, a := range e.Attempts {
		parts = append(parts, fmt.Sprintf("%s %s: %s", a.Name, a.Outcome, a.Reason))
	}
	return fmt.Sprintf("no strategy reached %s (%s)", e.Peer, strings.Join(parts, "; "))
}

// CheckStrategies validates a strategy list: known names, no repeats.
// Empty means DefaultStrategies.
func CheckStrategies(list []string) ([]string, error) {
	if len(list) == 0 {
		return DefaultStrategies, nil
	}
	seen := make(map[string]bool)
	for _, s := range list {
		if _, ok := strategy.ByName(s); !ok {
			return nil, fmt.Errorf("%w %q: want %s", ErrUnknownStrategy, s, strings.Join(DefaultStrategies, ", "))
		}
		if seen[s] {
			return nil, fmt.Errorf("strategy %q given twice", s)
		}
		seen[s] = true
	}
	return list, nil
}

// Connect opens an authenticated stream to the peer at addr. It plans the
// strategies (nil: DefaultStrategies, in their order of preference) from
// both addresses, races those that can work, and keeps the first path
// that is secured; the others are cancelled, and their paths dropped on
// both sides. It returns a *ConnectError listing every attempt when none
// succeeds within ctx.
func (n *Node) Connect(ctx context.Context, addr address.Address, strategies []string) (*Conn, error) {
	strategies, err := CheckStrategies(strategies)
	if err != nil {
		return nil, err
	}
	if err := addr.Validate(); err != nil {
		return nil, err
	}
	if addr.NodeID == n.ID() {
		return nil, ErrSelf
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	self, ok := n.selfAddress()
	if !ok {
		return nil, ErrNotReady
	}
	plan := strategy.Plan(self, addr, strategy.PlanConfig{Strategies: strategies, TURN: len(n.cfg.TURN) > 0})
	return n.race(ctx, addr, plan)
}

// register makes a Conn of a secured stream and lists it.
func (n *Node) register(sc secured, peer string, dir Direction, strategy string, attempts []Attempt) *Conn {
	c := newConn(sc.tls, sc.raw, peer, dir, strategy, attempts, n.connChanged)
	n.conns.add(c)
	n.counters.open(c.Info())
	n.log.Info("connection open", "id", c.id, "peer", peer, "direction", dir, "strategy", strategy,
		"remote", sc.raw.RemoteAddr())
	n.emit(Event{Type: EventConnection, Connection: ptr(c.Info())})
	return c
}

// connChanged is called by a Conn whenever its state changes.
func (n *Node) connChanged(c *Conn) {
	info := c.Info()
	if info.State == StateClosed {
		n.conns.closedConn(c)
		n.counters.closed(info)
		n.log.Info("connection closed", "id", c.id, "peer", c.peer, "reason", info.CloseReason)
	}
	n.emit(Event{Type: EventConnection, Connection: &info})
}

// Conn returns a connection by ID.
func (n *Node) Conn(id string) (*Conn, bool) { return n.conns.get(id) }

// Conns lists the node's connections, open and recently closed, oldest first.
func (n *Node) Conns() []*Conn { return n.conns.list() }

func ptr[T any](v T) *T { return &v }
