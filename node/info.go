package node

import (
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/signaling"
)

// Info is the node's state as GET /v1/node reports it.
type Info struct {
	NodeID    string `json:"node_id"`
	Address   string `json:"address,omitempty"`
	MachineID string `json:"machine_id"`
	// Ready: the first probe has finished, an interface was probed and a
	// broker is connected; WaitingFor names what is missing otherwise
	// (WaitingProbe, WaitingInterface, WaitingBroker).
	Ready      bool     `json:"ready"`
	WaitingFor []string `json:"waiting_for"`
	ListenPort uint16   `json:"listen_port"`
	// Interfaces are the probed interfaces with their UDP and TCP NAT
	// results and port mappings; the address carries the TCP ones.
	Interfaces []Interface `json:"interfaces"`
	Probe      ProbeInfo   `json:"probe"`
	// Brokers are the signaling brokers and their state.
	Brokers   []signaling.BrokerStatus `json:"brokers"`
	Clock     ClockInfo                `json:"clock"`
	StartedAt time.Time                `json:"started_at"`
	// ReadyAfterMS is how long the node took from start to ready.
	ReadyAfterMS int64 `json:"ready_after_ms,omitempty"`
	// Policy is the inbound policy.
	Policy Policy `json:"policy"`
	// Peers are the node's links with peers.
	Peers []PeerStatus `json:"peers"`
}

// ProbeInfo says when the last NAT probe ran.
type ProbeInfo struct {
	STUNServers []string  `json:"stun_servers"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	DurationMS  int64     `json:"duration_ms"`
}

// ClockInfo is the NTP clock state.
type ClockInfo struct {
	OffsetMS float64   `json:"offset_ms"`
	Servers  []string  `json:"servers"`
	Answered int       `json:"answered"`
	SyncedAt time.Time `json:"synced_at,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Info reports the node's state.
func (n *Node) Info() Info {
	n.stateMu.Lock()
	rep, probed, readyAfter := n.report, n.probed, n.readyAfter
	n.stateMu.Unlock()
	info := Info{
		NodeID:       n.id.NodeID(),
		MachineID:    n.machine,
		ListenPort:   n.port,
		Interfaces:   n.interfaces(rep),
		Brokers:      n.sig.Brokers(),
		StartedAt:    n.started,
		ReadyAfterMS: readyAfter.Milliseconds(),
		Policy:       n.Policy(),
		Peers:        n.Peers(),
		Probe: ProbeInfo{
			STUNServers: n.cfg.STUN,
			StartedAt:   rep.Started,
			FinishedAt:  rep.Finished,
			DurationMS:  rep.Finished.Sub(rep.Started).Milliseconds(),
		},
	}
	info.WaitingFor = n.waitingFor(probed, rep, info.Brokers)
	info.Ready = len(info.WaitingFor) == 0
	if probed {
		info.Address = n.buildAddress(rep).String()
	}
	info.Clock = ClockInfo{Servers: n.cfg.NTP}
	if n.clock != nil {
		st := n.clock.Status()
		info.Clock.OffsetMS = float64(st.Offset) / float64(time.Millisecond)
		info.Clock.Answered = st.Answered
		info.Clock.SyncedAt = st.LastSync
		info.Clock.Error = st.LastError
	}
	return info
}

func (n *Node) isReady() bool {
	select {
	case <-n.ready:
		return true
	default:
		return false
	}
}

// Address is the node's peer address, or "" before the first probe.
func (n *Node) Address() string {
	a, ok := n.selfAddress()
	if !ok {
		return ""
	}
	return a.String()
}

// selfAddress is the node's peer address; false before the first probe.
func (n *Node) selfAddress() (address.Address, bool) {
	n.stateMu.Lock()
	rep, probed := n.report, n.probed
	n.stateMu.Unlock()
	if !probed {
		return address.Address{}, false
	}
	return n.buildAddress(rep), true
}

// buildAddress makes the peer address from a probe report: up to three
// interfaces per family, each with its TCP result (punching is TCP). An
// interface whose NAT could not be determined is listed as blocked with its
// internal IP as external IP, so same-LAN peers can still use it.
func (n *Node) buildAddress(rep natprobe.Report) address.Address {
	a := address.Address{
		SignalOffsets: n.signalOffsets(),
		NodeID:        n.id.NodeID(),
		MachineID:     n.machine,
	}
	for i, ifc := range rep.Interfaces {
		r := ifc.TCP
		item := address.Interface{
			NetIfIndex: ifc.Index,
			Offset:     i,
			ExternalIP: r.ExternalIP.WithZone(""),
			InternalIP: ifc.IP.WithZone(""), // the netiface index names the link
			ListenPort: n.port,
			NAT:        r.NAT,
			Delta:      r.Delta,
			DeltaValue: r.DeltaValue,
		}
		if item.NAT == address.NATUnknown || !item.ExternalIP.IsValid() {
			item.NAT, item.Delta, item.DeltaValue = address.NATBlocked, address.DeltaNA, 0
			item.ExternalIP = item.InternalIP
		}
		if item.Delta == address.DeltaUnknown {
			item.Delta, item.DeltaValue = address.DeltaNA, 0
		}
		if item.ExternalIP.Is4() != item.InternalIP.Is4() {
			continue
		}
		if item.InternalIP.Is4() {
			if len(a.IPv4) < 3 {
				a.IPv4 = append(a.IPv4, item)
			}
		} else if len(a.IPv6) < 3 {
			a.IPv6 = append(a.IPv6, item)
		}
	}
	n.advertiseMapping(&a, rep)
	return a
}

// signalOffsets are the indices of the brokers the node is connected to, or
// of all configured brokers while none is, so peers know where to try.
func (n *Node) signalOffsets() []int {
	if offs := n.sig.ConnectedOffsets(); len(offs) > 0 {
		return offs
	}
	offs := make([]int, len(n.cfg.MQTT))
	for i := range offs {
		offs[i] = i
	}
	return offs
}
