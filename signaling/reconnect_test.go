package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// TestReconnect: Reconnect makes a new connection to the broker at once
// (Connects counts it), and messages flow on it.
func TestReconnect(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	c1 := startClient(t, newIdentity(t), []string{url})
	c2 := startClient(t, newIdentity(t), []string{url})
	changes := c1.Changes()
	c1.Reconnect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if st := c1.Brokers(); st[0].Connected && st[0].Connects == 2 {
			break
		}
		select {
		case <-changes:
			changes = c1.Changes()
		case <-ctx.Done():
			t.Fatalf("brokers %+v: want connected a second time", c1.Brokers())
		}
	}
	if _, _, err := c2.Echo(ctx, signaling.Peer{NodeID: c1.ID(), SignalOffsets: []int{0}}); err != nil {
		t.Fatalf("echo after the reconnect: %v", err)
	}
}
