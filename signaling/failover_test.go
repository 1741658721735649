package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/signaling/signalingtest"
)

// killable is a broker a test can take down and bring back on the same port.
type killable interface {
	URL() string
	Stop()
	Restart()
}

// embedded is the rendezvous broker, restartable on its port.
type embedded struct {
	t    *testing.T
	addr string
	srv  *rendezvous.Server
}

func startEmbedded(t *testing.T) *embedded {
	srv := rendezvoustest.Start(t)
	return &embedded{t: t, addr: srv.MQTTAddr(), srv: srv}
}

func (e *embedded) URL() string { return "mqtt://" + e.addr }

func (e *embedded) Stop() {
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("close broker: %v", err)
	}
}

func (e *embedded) Restart() {
	srv, err := rendezvous.New(rendezvous.Config{MQTTListen: e.addr, TURNListen: "127.0.0.1:0"})
	if err != nil {
		e.t.Fatalf("restart broker on %s: %v", e.addr, err)
	}
	e.srv = srv
	e.t.Cleanup(func() { _ = srv.Close() })
}

// TestBrokerFailover runs two clients on two brokers, kills one, checks that
// echo still works, restarts it on the same port and checks that both
// clients are back on it, resubscribed, by a request sent only through it.
func TestBrokerFailover(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T) killable
	}{
		{"mosquitto killed", func(t *testing.T) killable { return signalingtest.StartMosquitto(t) }},
		{"embedded closed", func(t *testing.T) killable { return startEmbedded(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			stable := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
			flaky := tt.start(t)
			brokers := []string{stable, flaky.URL()}
			c1 := startClient(t, newIdentity(t), brokers)
			c2 := startClient(t, newIdentity(t), brokers)
			waitBrokers(t, c1, 0, 1)
			waitBrokers(t, c2, 0, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			both := signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{0, 1}}
			onlyFlaky := signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{1}}

			if _, _, err := c1.Echo(ctx, both); err != nil {
				t.Fatalf("echo with both brokers up: %v", err)
			}
			if _, via, err := c1.Echo(ctx, onlyFlaky); err != nil || via != flaky.URL() {
				t.Fatalf("echo via the flaky broker: %q, %v", via, err)
			}

			flaky.Stop()
			// Right away, before the clients may have noticed.
			if _, via, err := c1.Echo(ctx, both); err != nil || via != stable {
				t.Fatalf("echo after the kill: %q, %v; want via %s", via, err, stable)
			}
			waitBrokers(t, c1, 0)
			waitBrokers(t, c2, 0)
			// The peer's only broker is down for us: fall back to a connected one.
			if _, via, err := c1.Echo(ctx, onlyFlaky); err != nil || via != stable {
				t.Fatalf("echo with fallback: %q, %v; want via %s", via, err, stable)
			}
			if st := c1.Brokers()[1]; st.Connected || st.LastError == "" {
				t.Errorf("dead broker status %+v", st)
			}

			flaky.Restart()
			waitBrokers(t, c1, 0, 1)
			waitBrokers(t, c2, 0, 1)
			inBefore := c2.Brokers()[1].In
			rtt, via, err := c1.Echo(ctx, onlyFlaky)
			if err != nil || via != flaky.URL() {
				t.Fatalf("echo via the restarted broker: %q, %v", via, err)
			}
			t.Logf("echo via restarted broker: %v", rtt)
			for i, c := range []*signaling.Client{c1, c2} {
				if st := c.Brokers()[1]; st.Connects != 2 {
					t.Errorf("client %d: %d subscriptions on the flaky broker, want 2", i, st.Connects)
				}
			}
			// (Messages c1 published to the dead broker may be resent by paho
			// after the reconnect, so count at least one, not exactly one.)
			if got := c2.Brokers()[1].In; got < inBefore+1 {
				t.Errorf("c2 received %d messages via the restarted broker, want 1 or more", got-inBefore)
			}
		})
	}
}
