package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// TestKnownRTTs: a client knows its broker's round trip once subscribed,
// and a peer's once it echoed it, and only that peer's.
func TestKnownRTTs(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	c1 := startClient(t, newIdentity(t), []string{url})
	c2 := startClient(t, newIdentity(t), []string{url})
	if rtt, ok := c1.BrokerRTT(); !ok || rtt <= 0 || rtt > 10*time.Second {
		t.Errorf("BrokerRTT = %v, %v; want the SUBACK's round trip", rtt, ok)
	}
	if rtt, ok := c1.PeerRTT(c2.ID()); ok {
		t.Errorf("PeerRTT before any echo = %v, want none", rtt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	echo, _, err := c1.Echo(ctx, signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	if rtt, ok := c1.PeerRTT(c2.ID()); !ok || rtt != echo {
		t.Errorf("PeerRTT after an echo of %v = %v, %v", echo, rtt, ok)
	}
	if rtt, ok := c2.PeerRTT(c1.ID()); ok {
		t.Errorf("the echoed peer knows a round trip it did not measure: %v", rtt)
	}
}
