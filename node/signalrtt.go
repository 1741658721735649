package node

import (
	"time"
)

// signalingRTT is the signaling round trip to peer as the node knows it
// without asking: the last echo to the peer; else the longer of the RTT
// its link's pings measure and twice our round trip to our nearest broker
// (the peer's leg to its broker taken as long as ours). False when the
// node knows none of them, before its brokers answered anything.
func (n *Node) signalingRTT(peer string) (time.Duration, bool) {
	if rtt, ok := n.sig.PeerRTT(peer); ok {
		return rtt, true
	}
	var rtt time.Duration
	if l := n.links.Get(peer); l != nil {
		rtt = l.RTT()
	}
	if b, ok := n.sig.BrokerRTT(); ok {
		rtt = max(rtt, 2*b)
	}
	return rtt, rtt > 0
}
