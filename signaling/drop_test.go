package signaling_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// rawPublisher connects a bare paho client that publishes whatever a test
// gives it, bypassing the Client's sealing.
func rawPublisher(t *testing.T, url string) func(topic string, payload []byte) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(strings.Replace(url, "mqtt://", "tcp://", 1)).SetClientID("raw-" + newMsgID(t)[:16])
	pub := mqtt.NewClient(signedIn(t, o, url))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("raw client connect: %v", tok.Error())
	}
	t.Cleanup(func() { pub.Disconnect(100) })
	return func(topic string, payload []byte) {
		t.Helper()
		if tok := pub.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("raw publish: %v", tok.Error())
		}
	}
}

// TestDropRules publishes crafted messages straight to a client's topic and
// checks that each is dropped for the right reason and none reaches the
// handler. After the crafted messages of a case, a valid control message is
// published; the case is over when the control has been handled and the
// expected drops are counted.
func TestDropRules(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	a, m, other := newIdentity(t), newIdentity(t), newIdentity(t)
	self := newIdentity(t)
	c := startClient(t, self, []string{url})
	to := self.NodeID()

	handled := make(chan *signaling.Message, 64)
	c.Handle(msgProbe, func(_ context.Context, msg *signaling.Message) { handled <- msg })
	publish := rawPublisher(t, url)
	topic := signaling.Topic(to)

	probe := func(from *identity.Identity, sent time.Time, ttl time.Duration) []byte {
		return seal(t, from, to, "probe", sent, ttl, "crafted")
	}
	var lastControl []byte // a message the client already accepted
	tests := []struct {
		name     string
		payloads func() [][]byte
		want     map[signaling.DropReason]uint64
	}{
		{"oversized", func() [][]byte {
			return [][]byte{bytes.Repeat([]byte("x"), signaling.MaxMessageSize+1)}
		}, map[signaling.DropReason]uint64{signaling.DropOversized: 1}},
		{"malformed", func() [][]byte {
			good := probe(a, time.Now(), time.Minute)
			return [][]byte{
				[]byte("not json"),
				[]byte(`{"v":1}`),
				bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":1,"extra":true,`), 1),
				rewrite(t, good, a, func(e *signaling.Envelope) { e.ID = strings.ToUpper(e.ID) }),
			}
		}, map[signaling.DropReason]uint64{signaling.DropMalformed: 4}},
		{"version", func() [][]byte {
			return [][]byte{rewrite(t, probe(a, time.Now(), time.Minute), a, func(e *signaling.Envelope) { e.V = 2 })}
		}, map[signaling.DropReason]uint64{signaling.DropVersion: 1}},
		{"unsigned", func() [][]byte {
			return [][]byte{rewrite(t, probe(a, time.Now(), time.Minute), nil, func(e *signaling.Envelope) { e.Sig = "" })}
		}, map[signaling.DropReason]uint64{signaling.DropUnsigned: 1}},
		{"signed by someone other than from", func() [][]byte {
			return [][]byte{
				rewrite(t, probe(a, time.Now(), time.Minute), m, func(*signaling.Envelope) {}),
				rewrite(t, probe(m, time.Now(), time.Minute), nil, func(e *signaling.Envelope) { e.From = a.NodeID() }),
			}
		}, map[signaling.DropReason]uint64{signaling.DropBadSignature: 2}},
		{"not addressed to us", func() [][]byte {
			return [][]byte{seal(t, a, other.NodeID(), "probe", time.Now(), time.Minute, "crafted")}
		}, map[signaling.DropReason]uint64{signaling.DropNotForUs: 1}},
		{"expired", func() [][]byte {
			return [][]byte{probe(a, time.Now().Add(-time.Minute), 30*time.Second)}
		}, map[signaling.DropReason]uint64{signaling.DropExpired: 1}},
		{"too far in the future", func() [][]byte {
			return [][]byte{probe(a, time.Now().Add(signaling.DefaultMaxSkew+10*time.Second), time.Minute)}
		}, map[signaling.DropReason]uint64{signaling.DropFuture: 1}},
		{"already seen", func() [][]byte {
			return [][]byte{lastControl, lastControl}
		}, map[signaling.DropReason]uint64{signaling.DropReplay: 2}},
		{"older than the replay cache", func() [][]byte {
			// Sent before the client started (it started less than 10s ago), not expired.
			return [][]byte{probe(a, time.Now().Add(-10*time.Second), time.Minute)}
		}, map[signaling.DropReason]uint64{signaling.DropTooOld: 1}},
		{"undecryptable", func() [][]byte {
			return [][]byte{rewrite(t, seal(t, a, other.NodeID(), "probe", time.Now(), time.Minute, "crafted"), a,
				func(e *signaling.Envelope) { e.To = to })}
		}, map[signaling.DropReason]uint64{signaling.DropUndecryptable: 1}},
		{"no handler", func() [][]byte {
			return [][]byte{seal(t, a, to, "nobody_handles_this", time.Now(), time.Minute, "crafted")}
		}, map[signaling.DropReason]uint64{signaling.DropUnhandled: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.Drops()
			payloads := tt.payloads()
			var total uint64
			for _, n := range tt.want {
				total += n
			}
			if total != uint64(len(payloads)) {
				t.Fatalf("test bug: %d payloads, %d expected drops", len(payloads), total)
			}
			for _, p := range payloads {
				publish(topic, p)
			}
			control := seal(t, a, to, "probe", time.Now(), time.Minute, "control "+tt.name)
			publish(topic, control)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			select {
			case msg := <-handled:
				var body string
				if err := json.Unmarshal(msg.Body, &body); err != nil || body != "control "+tt.name {
					t.Fatalf("handler got %q (%v), want the control message", msg.Body, err)
				}
			case <-ctx.Done():
				t.Fatal("control message not handled")
			}
			lastControl = control

			delta := waitDropDelta(ctx, c, before, total)
			for _, r := range signaling.DropReasons {
				if delta[r] != tt.want[r] {
					t.Errorf("drops[%s] += %d, want %d", r, delta[r], tt.want[r])
				}
			}
			select {
			case msg := <-handled:
				t.Errorf("a crafted message reached the handler: %+v", msg)
			default:
			}
		})
	}
	if st := c.Brokers()[0]; st.Drops == 0 || st.In < st.Drops {
		t.Errorf("broker counters in=%d drops=%d", st.In, st.Drops)
	}
}

// waitDropDelta waits until c's drop counters exceed before by total in all,
// and returns the per-reason increase.
func waitDropDelta(ctx context.Context, c *signaling.Client, before map[signaling.DropReason]uint64, total uint64) map[signaling.DropReason]uint64 {
	for {
		ch := c.Changes()
		delta := make(map[signaling.DropReason]uint64)
		var sum uint64
		for r, n := range c.Drops() {
			delta[r] = n - before[r]
			sum += delta[r]
		}
		if sum >= total {
			return delta
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return delta
		}
	}
}

// TestQueueFull fills the receive queue behind a blocked worker and checks
// that the overflow is dropped, not waited for.
func TestQueueFull(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	a, self := newIdentity(t), newIdentity(t)
	c := startClient(t, self, []string{url}, func(cfg *signaling.Config) { cfg.Workers, cfg.QueueSize = 1, 1 })
	entered, release := make(chan struct{}, 8), make(chan struct{})
	c.Handle(msgProbe, func(context.Context, *signaling.Message) {
		entered <- struct{}{}
		<-release
	})
	publish := rawPublisher(t, url)
	topic := signaling.Topic(self.NodeID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	publish(topic, seal(t, a, self.NodeID(), "probe", time.Now(), time.Minute, 1))
	select {
	case <-entered: // the only worker is now busy
	case <-ctx.Done():
		t.Fatal("first message not handled")
	}
	before := c.Drops()
	publish(topic, seal(t, a, self.NodeID(), "probe", time.Now(), time.Minute, 2)) // one of these two queues,
	publish(topic, seal(t, a, self.NodeID(), "probe", time.Now(), time.Minute, 3)) // the other overflows
	delta := waitDropDelta(ctx, c, before, 1)
	if delta[signaling.DropQueueFull] != 1 {
		t.Fatalf("drops %v, want one queue_full", delta)
	}
	close(release)
	select {
	case <-entered: // the queued one
	case <-ctx.Done():
		t.Fatal("queued message not handled")
	}
}
