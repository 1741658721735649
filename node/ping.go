package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/reachd/reachd/address"
)

// MaxPingCount bounds the round trips of one Ping.
const MaxPingCount = 100

// PingOptions tune a ping.
type PingOptions struct {
	// Count is how many round trips to measure; 0 means 1.
	Count int
	// Fresh races the strategies for a new path first (see
	// ConnectOptions.Fresh).
	Fresh bool
	// Strategies are those a race may use; nil means DefaultStrategies.
	Strategies []string
}

// PingResult is what Ping measured over the data path to a peer.
type PingResult struct {
	PeerID string `json:"peer_id"`
	// Strategy is the strategy of the path the last pong came on.
	Strategy string `json:"strategy"`
	// Pings are the round trips, in order.
	Pings []PingRound `json:"pings"`
	// Attempts are those of the race Ping ran for a path (with Fresh, or
	// when the node had none to the peer); empty when it used the link's.
	Attempts []Attempt `json:"attempts"`
}

// PingRound is one round trip of a ping.
type PingRound struct {
	RTTMS    float64 `json:"rtt_ms"`
	Strategy string  `json:"strategy"` // of the path the pong came on
}

// Ping measures round trips over the data path to the peer at addr: the
// session link's ping and pong over its current path (through the relay
// for a relayed path), one after the other. With no link, or with Fresh,
// it races for a path first, as a connect does, but opens no connection;
// a link made for a ping closes once idle. A failed race is a
// *ConnectError.
func (n *Node) Ping(ctx context.Context, addr address.Address, o PingOptions) (PingResult, error) {
	if o.Count < 0 || o.Count > MaxPingCount {
		return PingResult{}, fmt.Errorf("a count of %d: want 1 to %d", o.Count, MaxPingCount)
	}
	count := max(o.Count, 1)
	l, attempts, err := n.linkTo(ctx, addr, ConnectOptions{Strategies: o.Strategies, Fresh: o.Fresh})
	if err != nil {
		return PingResult{}, err
	}
	if attempts == nil {
		attempts = []Attempt{}
	}
	res := PingResult{PeerID: addr.NodeID, Attempts: attempts, Pings: make([]PingRound, 0, count)}
	for range count {
		rtt, name, err := l.Ping(ctx)
		if err != nil {
			if len(res.Pings) > 0 && errors.Is(err, ctx.Err()) {
				return res, nil // what came back in time
			}
			return res, fmt.Errorf("ping %s: %w", addr.NodeID, err)
		}
		res.Strategy = name
		res.Pings = append(res.Pings, PingRound{RTTMS: float64(rtt.Microseconds()) / 1000, Strategy: name})
	}
	return res, nil
}
