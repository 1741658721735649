package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/reachd/reachd/address"
)

// Strategy names, in their default order.
const (
	StrategyDirect  = "direct"
	StrategyReverse = "reverse"
	StrategyPunch   = "punch"
	StrategyRelay   = "relay"
)

// DefaultStrategies is the order Connect tries strategies in by default.
var DefaultStrategies = []string{StrategyDirect, StrategyReverse, StrategyPunch, StrategyRelay}

// strategyTimeouts bound each strategy's attempt.
var strategyTimeouts = map[string]time.Duration{
	StrategyDirect:  2 * time.Second,
	StrategyReverse: 3 * time.Second,
	StrategyPunch:   5 * time.Second,
	StrategyRelay:   8 * time.Second,
}

// Errors of Connect.
var (
	ErrUnknownStrategy = errors.New("unknown strategy")
	ErrSelf            = errors.New("that address is this node's own")
)

// ConnectError is a connection that no strategy could make; Attempts says
// why each failed.
type ConnectError struct {
	Peer     string
	Attempts []Attempt
}

func (e *ConnectError) Error() string {
	var parts []string
	for _, a := range e.Attempts {
		parts = append(parts, fmt.Sprintf("%s: %s", a.Name, a.Reason))
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
		if _, ok := strategyTimeouts[s]; !ok {
			return nil, fmt.Errorf("%w %q: want %s", ErrUnknownStrategy, s, strings.Join(DefaultStrategies, ", "))
		}
		if seen[s] {
			return nil, fmt.Errorf("strategy %q given twice", s)
		}
		seen[s] = true
	}
	return list, nil
}

// secured is a raw connection after the TLS handshake.
type secured struct {
	tls *tls.Conn
	raw net.Conn
}

// Connect opens an authenticated stream to the peer at addr, trying the
// strategies in order (nil: DefaultStrategies), each within its own
// timeout and within ctx. It returns a *ConnectError listing every attempt
// when none succeeds.
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
	attempts := make([]Attempt, 0, len(strategies))
	for i, s := range strategies {
		if ctx.Err() != nil {
			for _, rest := range strategies[i:] {
				attempts = append(attempts, Attempt{Name: rest, Outcome: "skipped", Reason: "connect timed out before it was tried"})
			}
			break
		}
		n.emit(Event{Type: EventAttempt, Attempt: &AttemptEvent{Peer: addr.NodeID, Attempt: Attempt{Name: s, Outcome: "trying"}}})
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, strategyTimeouts[s])
		sc, err := n.try(sctx, s, addr)
		cancel()
		n.counters.attempt(s, err)
		a := Attempt{Name: s, MS: time.Since(start).Milliseconds()}
		if err == nil {
			a.Outcome = "ok"
			attempts = append(attempts, a)
			n.emit(Event{Type: EventAttempt, Attempt: &AttemptEvent{Peer: addr.NodeID, Attempt: a}})
			return n.register(sc, addr.NodeID, Outbound, s, attempts), nil
		}
		a.Outcome, a.Reason = "failed", reasonOf(sctx, err)
		attempts = append(attempts, a)
		n.emit(Event{Type: EventAttempt, Attempt: &AttemptEvent{Peer: addr.NodeID, Attempt: a}})
		n.log.Debug("strategy failed", "peer", addr.NodeID, "strategy", s, "reason", a.Reason)
	}
	return nil, &ConnectError{Peer: addr.NodeID, Attempts: attempts}
}

// reasonOf words a strategy's failure, naming a timeout as such.
func reasonOf(ctx context.Context, err error) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out: " + err.Error()
	}
	return err.Error()
}

func (n *Node) try(ctx context.Context, strategy string, addr address.Address) (secured, error) {
	switch strategy {
	case StrategyDirect:
		return n.connectDirect(ctx, addr)
	case StrategyReverse:
		return n.connectReverse(ctx, addr)
	case StrategyPunch:
		return n.connectPunch(ctx, addr)
	case StrategyRelay:
		return n.connectRelay(ctx, addr)
	}
	return secured{}, fmt.Errorf("%w %q", ErrUnknownStrategy, strategy)
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
