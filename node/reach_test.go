package node_test

import (
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestReachCheck: the rendezvous's STUN server dials the node's listen
// port back (on loopback, from the interface's own IP: no NAT between),
// the node answers its own check session, and the interface is reported
// reachable and open; the address carries it.
func TestReachCheck(t *testing.T) {
	rv := rendezvoustest.Start(t)
	n := nodetest.Start(t, rv)
	info := n.Info()
	checked := 0
	for _, ifc := range info.Interfaces {
		r := ifc.Reach
		if len(r.Checks) == 0 {
			if r.State != natprobe.ReachUnknown || r.Reason == "" {
				t.Errorf("%s %v: reach %+v without checks, want unknown with a reason", ifc.Name, ifc.IP, r)
			}
			continue
		}
		checked++
		if r.State != natprobe.ReachReachable || r.Port != info.ListenPort || r.CheckedAt.IsZero() {
			t.Errorf("%s %v: reach %+v, want reachable on port %d", ifc.Name, ifc.IP, r, info.ListenPort)
		}
		for _, c := range r.Checks {
			if c.Error == "" && (c.Outcome != natprobe.DialBackAnswered || !c.Accepted) {
				t.Errorf("%s %v: check %+v, want answered with our own answer", ifc.Name, ifc.IP, c)
			}
		}
		if ifc.TCP.NAT != address.NATOpen {
			t.Errorf("%s %v: tcp NAT %s, want open", ifc.Name, ifc.IP, ifc.TCP.NAT)
		}
	}
	if checked == 0 {
		t.Skipf("no interface of this machine could reach the loopback STUN server: %+v", info.Interfaces)
	}
}
