package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node/internal/peerlink"
	"github.com/reachd/reachd/node/internal/race"
	"github.com/reachd/reachd/session"
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

// ConnectOptions tune a connect.
type ConnectOptions struct {
	// Strategies are those that may make a path, in their order of
	// preference; nil means DefaultStrategies.
	Strategies []string
	// Grace is how long the connection waits for a new path after its
	// path died; 0 means Config.Grace.
	Grace time.Duration
	// Fresh races the strategies for a new path even when the peer's link
	// has one; the new path replaces it for all the peer's connections.
	Fresh bool
	// Service names the peer's service the stream is for (see the
	// service package); "" is a plain connection for the API to consume.
	Service string
	// Kind is how the stream's bytes are meant: session.KindBytes (the
	// zero value) or session.KindFrames (a UDP service's datagrams).
	Kind session.Kind
}

// Connect opens an authenticated stream to the peer at addr, with the
// strategies given (nil: DefaultStrategies, in their order of preference).
// See ConnectWith.
func (n *Node) Connect(ctx context.Context, addr address.Address, strategies []string) (*Conn, error) {
	return n.ConnectWith(ctx, addr, ConnectOptions{Strategies: strategies})
}

// ConnectWith opens an authenticated stream to the peer at addr. When the
// node has a link with the peer on a path of an allowed strategy, the
// stream opens on it at once. Otherwise it plans the strategies from both
// addresses, races those that can work, and keeps the first path that is
// secured (the others are cancelled, and their paths dropped on both
// sides) for the peer's link. It returns a *ConnectError listing every
// attempt when none succeeds within ctx.
func (n *Node) ConnectWith(ctx context.Context, addr address.Address, o ConnectOptions) (*Conn, error) {
	if o.Service != "" && !ValidServiceName(o.Service) {
		return nil, fmt.Errorf("service %q: %w", o.Service, ErrServiceName)
	}
	if o.Grace < 0 {
		return nil, fmt.Errorf("a grace period of %v: want 0 or more", o.Grace)
	}
	l, attempts, err := n.linkTo(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	n.learnAddress(addr) // the peer answered at addr: the book's entries follow it
	return n.openOn(ctx, l, attempts, o)
}

// linkTo returns the peer's link with a path of an allowed strategy: the
// live one unless o.Fresh, else the one a race gave a path, with the
// race's attempts (nil when none ran).
func (n *Node) linkTo(ctx context.Context, addr address.Address, o ConnectOptions) (_ *peerlink.Link, _ []Attempt, retErr error) {
	strategies, err := CheckStrategies(o.Strategies)
	if err != nil {
		return nil, nil, err
	}
	if err := addr.Validate(); err != nil {
		return nil, nil, err
	}
	if addr.NodeID == n.ID() {
		return nil, nil, ErrSelf
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	if !o.Fresh {
		// A connect that finds the peer's link with a path opens on it; one
		// that finds another connect racing for a path waits for that race.
		var joined *race.Shared
		for {
			if l := n.links.Get(addr.NodeID); l != nil {
				if name, _ := l.Current(); name != "" && slices.Contains(strategies, name) {
					l.Learn(addr, explicit(o.Strategies))
					return l, nil, nil
				}
			}
			if joined != nil && joined.Err() != nil && slices.Equal(joined.Strategies, strategies) {
				return nil, nil, joined.Err() // the same race would fail the same way
			}
			r, lead := n.races.Join(addr.NodeID, strategies)
			if lead {
				defer func() {
					err := retErr
					if ctx.Err() != nil {
						err = nil // this connect gave up: the others race for themselves
					}
					n.races.End(addr.NodeID, r, err)
				}()
				break
			}
			select {
			case <-r.Done():
			case <-ctx.Done():
				return nil, nil, &ConnectError{Peer: addr.NodeID, Attempts: []Attempt{}, Reason: "another connect to the peer was racing for a path, and this one's time ran out first"}
			}
			joined = r
		}
	}
	self, ok := n.selfAddress()
	if !ok {
		return nil, nil, ErrNotReady
	}
	plan := strategy.Plan(self, addr, strategy.PlanConfig{Strategies: strategies, TURN: len(n.cfg.TURN) > 0, Birthday: !n.cfg.Birthday.Off})
	for try := 0; ; try++ {
		win, err := n.race(ctx, addr, plan)
		if err != nil {
			return nil, nil, err
		}
		l, err := n.links.Make(addr.NodeID)
		if err != nil {
			win.path.Close()
			return nil, nil, err
		}
		l.Learn(addr, explicit(o.Strategies))
		// The stream opens on the path right behind our hello and the
		// commit: the peer's hello is checked when it comes, a round
		// trip later, and a hello that refuses the path ends it like a
		// lost path, which the link resumes (AttachEarly).
		err = l.AttachEarly(ctx, win.path.TLS, win.name)
		if errors.Is(err, session.ErrUnknownLink) && try == 0 {
			// The peer held a link of ours from before we restarted;
			// it has dropped it now: a new path starts afresh.
			continue
		}
		if errors.Is(err, session.ErrStalePath) {
			// Another connect gave the link a path at the same moment,
			// and both sides keep that one: the stream opens on it.
			err = nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("start the session with %s on the %s path: %w", addr.NodeID, win.name, err)
		}
		return l, win.attempts, nil
	}
}

// explicit is a connect's strategy list as a link keeps it: nil when the
// connect named none.
func explicit(strategies []string) []string {
	if len(strategies) == 0 {
		return nil
	}
	return strategies
}

// register lists a connection.
func (n *Node) register(c *Conn) {
	n.conns.add(c)
	info := c.Info()
	n.counters.open(info)
	n.log.Info("connection open", "id", c.id, "peer", c.peer, "direction", c.dir, "strategy", info.Strategy,
		"remote", info.RemoteAddr)
	n.emit(Event{Type: EventConnection, Connection: &info})
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
