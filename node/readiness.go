package node

import (
	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/signaling"
)

// What a node that is not ready waits for (Info.WaitingFor).
const (
	// WaitingProbe: the first NAT probe, clock sync and signaling start
	// have not all finished.
	WaitingProbe = "probe"
	// WaitingInterface: the probe found no interface to reach peers on.
	WaitingInterface = "interface"
	// WaitingBroker: no signaling broker is connected.
	WaitingBroker = "broker"
)

// waitingFor lists what the node waits for before it is ready: its first
// probe, at least one probed interface and at least one connected broker.
// Empty when it is ready.
func (n *Node) waitingFor(probed bool, rep natprobe.Report, brokers []signaling.BrokerStatus) []string {
	out := []string{}
	if !n.isReady() || !probed {
		out = append(out, WaitingProbe)
	} else if len(rep.Interfaces) == 0 {
		out = append(out, WaitingInterface)
	}
	connected := false
	for _, b := range brokers {
		connected = connected || b.Connected
	}
	if !connected {
		out = append(out, WaitingBroker)
	}
	return out
}

// readyNow says whether the node is ready now: its first probe done, an
// interface probed and a broker connected. Ready is closed after the
// first probe whatever its outcome; this is what GET /v1/node and the
// metrics report.
func (n *Node) readyNow() bool {
	n.stateMu.Lock()
	rep, probed := n.report, n.probed
	n.stateMu.Unlock()
	return len(n.waitingFor(probed, rep, n.sig.Brokers())) == 0
}
