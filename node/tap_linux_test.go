package node_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestTAPGoesWithItsConnectionAndNode: a connection's TAP device is removed
// when the peer closes the connection, and when the node itself closes.
func TestTAPGoesWithItsConnectionAndNode(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TAP devices need root")
		}
		t.Skip("TAP devices need root")
	}
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	bAddr := mustParse(t, b.Address())
	attach := func(name string) (*node.Conn, *node.Conn) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := a.Connect(ctx, bAddr, []string{node.StrategyDirect})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.AttachTAP(c, node.TAPConfig{IP: netip.MustParsePrefix("10.99.5.1/24"), Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := net.InterfaceByName(name); err != nil {
			t.Fatalf("device %s: %v", name, err)
		}
		return c, waitInbound(t, b, a.ID(), node.StrategyDirect)
	}
	gone := func(name string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := net.InterfaceByName(name); err != nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("device %s still there", name)
			}
			time.Sleep(20 * time.Millisecond) // the kernel removes it when the pump lets go
		}
	}

	c, in := attach("reachnode0")
	in.Close() // the peer closes
	<-c.Done()
	gone("reachnode0")

	attach("reachnode1")
	a.Close()
	gone("reachnode1")
}
