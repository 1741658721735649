package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// A node whose STUN servers do not answer still starts: its NAT is unknown,
// with the reason, and its address lists its interfaces as blocked.
func TestNoSTUNServer(t *testing.T) {
	rv := rendezvoustest.Start(t)
	n := nodetest.Start(t, rv, func(c *node.Config) { c.STUN = []string{"127.0.0.1:1"} })
	info := n.Info()
	if !info.Ready {
		t.Fatal("not ready")
	}
	if len(info.Interfaces) == 0 {
		t.Skip("this machine has no non-loopback interface to probe")
	}
	for _, ifc := range info.Interfaces {
		for proto, r := range map[string]string{"tcp": ifc.TCP.Reason, "udp": ifc.UDP.Reason} {
			if r == "" {
				t.Errorf("%s %s: no reason for the unknown NAT", ifc.Name, proto)
			}
		}
		if ifc.TCP.NAT != address.NATUnknown {
			t.Errorf("%s: tcp NAT %v, want unknown", ifc.Name, ifc.TCP.NAT)
		}
	}
	a, err := address.Parse(info.Address)
	if err != nil {
		t.Fatalf("address %q: %v", info.Address, err)
	}
	for _, it := range append(a.IPv4, a.IPv6...) {
		if it.NAT != address.NATBlocked || it.ExternalIP != it.InternalIP {
			t.Errorf("address item %+v: want blocked with its internal IP", it)
		}
	}
}

// A node with an unreachable broker keeps running on the others, reports
// that one down with its error, and leaves it out of its signal offsets.
func TestUnreachableBroker(t *testing.T) {
	rv := rendezvoustest.Start(t)
	n := nodetest.Start(t, rv, nodetest.WithMQTT("mqtt://127.0.0.1:1", rendezvoustest.MQTTURL(rv)))
	// The failed attempt may be reported just after the node is ready.
	info := n.Info()
	for deadline := time.Now().Add(5 * time.Second); info.Brokers[0].LastError == "" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		info = n.Info()
	}
	if len(info.Brokers) != 2 {
		t.Fatalf("brokers %+v", info.Brokers)
	}
	if b := info.Brokers[0]; b.Connected || b.LastError == "" {
		t.Errorf("unreachable broker %+v: want down with an error", b)
	}
	if b := info.Brokers[1]; !b.Connected {
		t.Errorf("embedded broker %+v: want connected", b)
	}
	a := mustParse(t, info.Address)
	if len(a.SignalOffsets) != 1 || a.SignalOffsets[0] != 1 {
		t.Errorf("signal offsets %v, want [1] (the connected broker)", a.SignalOffsets)
	}
	if !strings.HasPrefix(info.Address, "1-") {
		t.Errorf("address %q", info.Address)
	}
}
