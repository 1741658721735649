package signaling_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// TestFutureDatedFloodKeepsEchoAnswered is the signaling blackout of issue 12
// over a real broker: a stranger with a fresh key publishes more validly
// signed messages than the replay cache holds, each dated just inside the
// allowed clock skew, while a genuine peer keeps echoing. Before the fix the
// cache raised its too_old cutoff into the future once full, and every echo
// after that was dropped as too_old.
func TestFutureDatedFloodKeepsEchoAnswered(t *testing.T) {
	checkLeaks(t)
	const cacheSize = 1000
	// This test is about the replay cache: neither the broker nor the
	// receive queue may drop any of the flood.
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t, func(c *rendezvous.Config) {
		c.MQTTMaxInflight = 4 * cacheSize
		c.MQTTMaxQueued = 4 * cacheSize // writes pending to the target: a slow reader loses none
	}))
	self, genuineID, stranger := newIdentity(t), newIdentity(t), newIdentity(t)
	target := startClient(t, self, []string{url}, func(cfg *signaling.Config) {
		cfg.ReplayCacheSize = cacheSize
		cfg.QueueSize = 4 * cacheSize
	})
	var flooded atomic.Int64
	progress := make(chan struct{}, 1)
	target.Handle(msgFlood, func(context.Context, *signaling.Message) {
		flooded.Add(1)
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	genuine := startClient(t, genuineID, []string{url})
	peer := signaling.Peer{NodeID: self.NodeID(), SignalOffsets: []int{0}}

	echo := func(when string) {
		t.Helper()
		// A dropped echo is never answered, however long we wait; the
		// time only has to cover a loaded machine.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, _, err := genuine.Echo(ctx, peer); err != nil {
			t.Fatalf("echo %s: %v; target drops %v", when, err, target.Drops())
		}
	}
	echo("before the flood")

	// The flood, published without waiting for each PUBACK.
	o := mqtt.NewClientOptions().AddBroker(strings.Replace(url, "mqtt://", "tcp://", 1)).SetClientID("flood-" + newMsgID(t)[:16])
	pub := mqtt.NewClient(signedIn(t, o, url))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("flood client connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	const n = cacheSize + 50
	topic := signaling.Topic(self.NodeID())
	toks := make([]mqtt.Token, 0, n)
	for i := range n {
		sent := time.Now().Add(signaling.DefaultMaxSkew - time.Second)
		toks = append(toks, pub.Publish(topic, 1, false, seal(t, stranger, self.NodeID(), "flood", sent, time.Minute, i)))
		if i%200 == 199 {
			echo("during the flood")
		}
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("flood publish: %v", tok.Error())
		}
	}

	// Wait until the target has looked at every flood message.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ch := target.Changes()
		d := target.Drops()
		if flooded.Load()+int64(d[signaling.DropReplayFull]+d[signaling.DropTooOld]) >= n {
			break
		}
		select {
		case <-ch:
		case <-progress: // accepted messages do not signal Changes
		case <-ctx.Done():
			t.Fatalf("flood not processed: %d handled, drops %v", flooded.Load(), d)
		}
	}
	echo("after the flood")
	// Each flood message is new: the cache keeps the stranger's newest
	// within its share and forgets its oldest, never anyone else's.
	if got := flooded.Load(); got != n {
		t.Errorf("stranger got %d of its %d new messages handled", got, n)
	}
	if d := target.Drops(); d[signaling.DropTooOld] != 0 {
		t.Errorf("%d messages dropped as too_old", d[signaling.DropTooOld])
	}
}
