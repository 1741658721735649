package node

import (
	"context"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node/internal/handshake"
	"github.com/reachd/reachd/node/internal/race"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// The race lives in node/internal/race; these are the names its results
// have in the node's API.
type (
	// Attempt is one strategy's part in a connection's race.
	Attempt = race.Attempt
	// AttemptStep is a moment of an attempt's timeline (a strategy.Mark
	// constant), in ms from the start of the connect.
	AttemptStep = race.Step
	// ConnectError is a connection that no strategy could make; Attempts
	// says why each failed or was skipped.
	ConnectError = race.Error
)

// Attempt outcomes. An attempt event says "trying" when it starts.
const (
	OutcomeTrying    = race.OutcomeTrying
	OutcomeOK        = race.OutcomeOK
	OutcomeFailed    = race.OutcomeFailed
	OutcomeSkipped   = race.OutcomeSkipped
	OutcomeCancelled = race.OutcomeCancelled
)

// raceDeps is what a race gets from the node.
type raceDeps struct{ n *Node }

var _ race.Deps = raceDeps{}

func (d raceDeps) Attempt(ctx context.Context, st strategy.Strategy, peer address.Address, eta func(time.Time), mark func(string, time.Time), wait func(context.Context)) (race.Path, error) {
	raw, err := st.Initiate(ctx, env{d.n}, strategy.Call{Peer: peer, ETA: eta, Mark: mark})
	if err != nil {
		return nil, err
	}
	wait(ctx)
	p, _, err := d.n.handshake(ctx, raw, peer.NodeID)
	if err != nil {
		return nil, err
	}
	mark(strategy.MarkTLSDone, time.Now())
	return p, nil
}

// Echo is the signaling round trip the node knows (signalingRTT), or
// else one it measures.
func (d raceDeps) Echo(ctx context.Context, peer address.Address) (time.Duration, error) {
	if rtt, ok := d.n.signalingRTT(peer.NodeID); ok {
		return rtt, nil
	}
	rtt, _, err := d.n.sig.Echo(ctx, signaling.PeerOf(peer))
	return rtt, err
}

func (d raceDeps) Report(peer string, a Attempt) {
	if a.Outcome != OutcomeTrying {
		d.n.counters.attempt(a)
		if a.Outcome == OutcomeFailed {
			d.n.log.Debug("strategy failed", "peer", peer, "strategy", a.Name, "reason", a.Reason)
		}
	}
	d.n.emit(Event{Type: EventAttempt, Attempt: &AttemptEvent{Peer: peer, Attempt: a}})
}

func (d raceDeps) Go(f func()) { d.n.wg.Go(f) }

// raceWin is the path a race committed.
type raceWin struct {
	path     handshake.Path
	name     string // its strategy
	attempts []Attempt
}

// race runs the plan towards peer and returns the winning path, committed
// on both sides, or a *ConnectError with every attempt. It ends when the
// node closes.
func (n *Node) race(ctx context.Context, peer address.Address, steps []strategy.Step) (raceWin, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)()
	win, err := race.Run(ctx, raceDeps{n}, peer, steps)
	if err != nil {
		return raceWin{}, err
	}
	return raceWin{path: win.Path.(handshake.Path), name: win.Strategy, attempts: win.Attempts}, nil
}
