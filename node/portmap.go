package node

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/portmap"
)

// Interface is one probed interface as GET /v1/node reports it: what the
// probe found, and the port mapping made through it.
type Interface struct {
	natprobe.Interface
	// Portmap is the listen port's mapping on the interface's gateway
	// (package portmap); nil without one.
	Portmap *portmap.Status `json:"portmap,omitempty"`
}

// newMapper makes the node's port mapper (nil with Config.NoPortMap): it
// maps the listen port and confirms each mapping by a dial-back through
// it (reachCheck's, on the mapped port).
func (n *Node) newMapper() (*portmap.Mapper, error) {
	if n.cfg.NoPortMap {
		return nil, nil
	}
	return portmap.New(portmap.Config{
		Port:     n.port,
		Lease:    n.cfg.PortMapLease,
		Confirm:  n.confirmMapping,
		OnChange: n.mappingChanged,
		Logger:   n.cfg.Logger,
	})
}

// confirmMapping asks the dial-back servers to dial ext's port at our
// source address from local: reachable when our listener answered.
func (n *Node) confirmMapping(ctx context.Context, local netip.Addr, ext netip.AddrPort) (netip.AddrPort, bool, error) {
	db, done := n.reachCheck()
	defer done()
	db.Port = ext.Port()
	r := n.prober.CheckPort(ctx, local, db)
	var dialed netip.AddrPort
	for _, c := range r.Checks {
		if c.Accepted || !dialed.IsValid() {
			dialed = c.Dialed
		}
		if c.Accepted {
			break
		}
	}
	if r.State == natprobe.ReachUnknown {
		return dialed, false, fmt.Errorf("no dial-back: %s", r.Reason)
	}
	return dialed, r.State == natprobe.ReachReachable, nil
}

// mappingChanged tells the API's listeners: the node's state and address
// changed.
func (n *Node) mappingChanged() {
	if n.isReady() {
		n.emit(Event{Type: EventProbe, Node: ptr(n.Info())})
	}
}

// mapping is the listen port's mapping, if any, confirmed or not.
func (n *Node) mapping() (portmap.Status, bool) {
	if n.mapper == nil {
		return portmap.Status{}, false
	}
	return n.mapper.Status()
}

// interfaces are the probed interfaces with their port mappings.
func (n *Node) interfaces(rep natprobe.Report) []Interface {
	st, mapped := n.mapping()
	out := make([]Interface, len(rep.Interfaces))
	for i, ifc := range rep.Interfaces {
		out[i].Interface = ifc
		if mapped && ifc.IP.WithZone("") == st.Local {
			out[i].Portmap = &st
		}
	}
	return out
}

// advertiseMapping puts a confirmed mapping into the address: the
// interface it forwards to is open at the mapping's external address when
// the external port is the listen port. Otherwise the mapping is one more
// interface, its external address as both IPs, and the interface itself is
// listed as blocked (its LAN address stays for peers behind the same NAT):
// its external IP at our listen port is not ours, and may be another
// node's mapping (TestPortMap, a second node behind one router).
func (n *Node) advertiseMapping(a *address.Address, rep natprobe.Report) {
	st, mapped := n.mapping()
	if !mapped || !st.Confirmed || !st.External.Addr().Is4() {
		return
	}
	for i := range a.IPv4 {
		it := &a.IPv4[i]
		if it.InternalIP != st.Local {
			continue
		}
		if st.External.Port() == it.ListenPort {
			it.NAT, it.ExternalIP = address.NATOpen, st.External.Addr()
			it.Delta, it.DeltaValue = address.DeltaNA, 0
			return
		}
		if len(a.IPv4) < address.MaxInterfaces {
			extra := *it
			it.NAT, it.Delta, it.DeltaValue = address.NATBlocked, address.DeltaNA, 0
			extra.Offset = len(rep.Interfaces)
			extra.ExternalIP, extra.InternalIP = st.External.Addr(), st.External.Addr()
			extra.ListenPort = st.External.Port()
			extra.NAT, extra.Delta, extra.DeltaValue = address.NATOpen, address.DeltaNA, 0
			a.IPv4 = append(a.IPv4, extra)
		}
		return
	}
}
