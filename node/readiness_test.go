package node_test

import (
	"net"
	"slices"
	"testing"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestNotReadyWithoutBroker: a node whose only broker cannot be reached
// finishes its first probe (Ready closes) but does not report ready, and
// says it waits for a broker.
func TestNotReadyWithoutBroker(t *testing.T) {
	rv := rendezvoustest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	n := nodetest.Start(t, rv, nodetest.WithMQTT("mqtt://"+closed))
	info := n.Info()
	if info.Ready || !slices.Contains(info.WaitingFor, node.WaitingBroker) {
		t.Errorf("ready %v, waiting for %v: want not ready, waiting for a broker", info.Ready, info.WaitingFor)
	}
	if len(info.Interfaces) > 0 && slices.Contains(info.WaitingFor, node.WaitingInterface) {
		t.Errorf("waiting for an interface with %d probed", len(info.Interfaces))
	}
	if n.Metrics().Ready {
		t.Error("the metrics say ready")
	}
}

// TestReadyWaitsForNothing: a node with its broker connected and an
// interface probed is ready and waits for nothing.
func TestReadyWaitsForNothing(t *testing.T) {
	rv := rendezvoustest.Start(t)
	n := nodetest.Start(t, rv)
	info := n.Info()
	if len(info.Interfaces) == 0 {
		t.Skip("this machine has no non-loopback interface to probe")
	}
	if !info.Ready || len(info.WaitingFor) != 0 {
		t.Errorf("ready %v, waiting for %v", info.Ready, info.WaitingFor)
	}
}
