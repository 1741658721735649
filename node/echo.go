package node

import (
	"context"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/signaling"
)

// EchoResult is a signaling round trip to a peer.
type EchoResult struct {
	RTTMS  float64 `json:"rtt_ms"`
	Broker string  `json:"broker"`
}

// Echo sends an echo to the peer at addr over signaling and waits for its
// reply until ctx ends.
func (n *Node) Echo(ctx context.Context, addr address.Address) (EchoResult, error) {
	rtt, broker, err := n.sig.Echo(ctx, signaling.PeerOf(addr))
	if err != nil {
		return EchoResult{}, err
	}
	return EchoResult{RTTMS: float64(rtt) / float64(time.Millisecond), Broker: broker}, nil
}
