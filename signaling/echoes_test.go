package signaling_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// TestFiveThousandEchoesInARowAllAnswered: an honest peer that talks a
// lot (5,000 echoes one after another, all within the replay window) is
// never dropped silently: the replay cache keeps each sender's newest
// messages within its share. Before, the 1,001st echo hit the sender's
// share and was dropped, and the caller waited out its timeout.
func TestFiveThousandEchoesInARowAllAnswered(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	a, b := newIdentity(t), newIdentity(t)
	ca := startClient(t, a, []string{url})
	startClient(t, b, []string{url})
	peer := signaling.Peer{NodeID: b.NodeID(), SignalOffsets: []int{0}}
	for i := range 5000 {
		// An echo that is dropped is never answered; the time only has
		// to cover a loaded machine.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := ca.Echo(ctx, peer)
		cancel()
		if err != nil {
			t.Fatalf("echo %d: %v; drops %v", i, err, ca.Drops())
		}
	}
}

// TestRequestRefusedForLoadIsAnswered: when the replay cache is full of
// young messages from many senders, a new request cannot be recorded; its
// sender gets an error at once instead of waiting out its timeout.
func TestRequestRefusedForLoadIsAnswered(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	target := newIdentity(t)
	startClient(t, target, []string{url}, func(c *signaling.Config) { c.ReplayCacheSize = 20 })
	peer := signaling.Peer{NodeID: target.NodeID(), SignalOffsets: []int{0}}
	echo := func(c *signaling.Client) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := c.Echo(ctx, peer)
		return err
	}
	// Ten senders take their share of two each: the cache is full.
	for i := range 10 {
		c := startClient(t, newIdentity(t), []string{url})
		for j := range 2 {
			if err := echo(c); err != nil {
				t.Fatalf("sender %d, echo %d: %v", i, j, err)
			}
		}
	}
	err := echo(startClient(t, newIdentity(t), []string{url}))
	var re *signaling.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "busy") {
		t.Fatalf("echo to a full replay cache: %v, want an error answer saying busy", err)
	}
}
