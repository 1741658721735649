package signaling_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/signaling/signalingtest"
)

func TestEcho(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name   string
		broker func(t *testing.T) string
	}{
		{"embedded tcp", func(t *testing.T) string { return rendezvoustest.MQTTURL(rendezvoustest.Start(t)) }},
		{"embedded websocket", func(t *testing.T) string { return rendezvoustest.MQTTWSURL(rendezvoustest.Start(t)) }},
		{"mosquitto", func(t *testing.T) string { return signalingtest.StartMosquitto(t).URL() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.broker(t)
			c1 := startClient(t, newIdentity(t), []string{url})
			c2 := startClient(t, newIdentity(t), []string{url})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			for _, pair := range [][2]*signaling.Client{{c1, c2}, {c2, c1}} {
				from, to := pair[0], pair[1]
				rtt, via, err := from.Echo(ctx, signaling.Peer{NodeID: to.ID(), SignalOffsets: []int{0}})
				if err != nil {
					t.Fatalf("echo: %v", err)
				}
				if rtt <= 0 || rtt > 10*time.Second {
					t.Errorf("rtt = %v", rtt)
				}
				if via != url {
					t.Errorf("reply came via %q, want %q", via, url)
				}
			}
			for i, c := range []*signaling.Client{c1, c2} {
				st := c.Brokers()
				if len(st) != 1 || !st[0].Connected || st[0].URL != url || st[0].Offset != 0 || st[0].Connects != 1 {
					t.Errorf("client %d brokers = %+v", i, st)
				}
				// Each sent an echo and an echo_reply and received the same.
				if st[0].In != 2 || st[0].Out != 2 || st[0].Drops != 0 {
					t.Errorf("client %d counters in=%d out=%d drops=%d, want 2, 2, 0", i, st[0].In, st[0].Out, st[0].Drops)
				}
				for r, n := range c.Drops() {
					if n != 0 {
						t.Errorf("client %d dropped %d as %s", i, n, r)
					}
				}
			}
		})
	}
}

func TestRequestReply(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	c1 := startClient(t, newIdentity(t), []string{url})
	c2 := startClient(t, newIdentity(t), []string{url})
	c2.Handle(msgPort, func(ctx context.Context, m *signaling.Message) {
		p, err := msgPort.Decode(m)
		if err != nil || p.Port == 0 {
			_ = c2.Reply(ctx, m, signaling.Error, signaling.ErrorBody{Reason: "bad punch"})
			return
		}
		_ = c2.Reply(ctx, m, msgPortReply, portBody{Port: p.Port + 1})
	})
	peer := signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{0}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("reply", func(t *testing.T) {
		m, err := c1.Request(ctx, peer, msgPort, portBody{Port: 40000})
		if err != nil {
			t.Fatal(err)
		}
		got, err := msgPortReply.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		if got.Port != 40001 || m.From != c2.ID() || m.To != c1.ID() || m.Re == "" {
			t.Errorf("reply %+v body %+v", m, got)
		}
	})
	t.Run("error reply", func(t *testing.T) {
		m, err := c1.Request(ctx, peer, msgPort, portBody{})
		var re *signaling.RemoteError
		if !errors.As(err, &re) || re.Reason != "bad punch" || re.Peer != c2.ID() || m == nil || !signaling.Error.Is(m) {
			t.Fatalf("Request = %+v, %v; want a RemoteError", m, err)
		}
	})
	t.Run("no handler times out", func(t *testing.T) {
		before := c2.Drops()[signaling.DropUnhandled]
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := c1.Request(short, peer, msgUnhandled, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request = %v, want deadline exceeded", err)
		}
		// The request did arrive; wait for its drop to be counted.
		waitDrops(t, c2, signaling.DropUnhandled, before+1)
	})
	t.Run("unknown peer", func(t *testing.T) {
		err := c1.Send(ctx, signaling.Peer{NodeID: "nobody"}, signaling.Echo, nil, "")
		if err == nil || !strings.Contains(err.Error(), "peer") {
			t.Fatalf("Send = %v", err)
		}
	})
}

// waitDrops waits until c has dropped n messages for reason r, woken by the
// Client's drop notifications.
func waitDrops(t *testing.T, c *signaling.Client, r signaling.DropReason, n uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ch := c.Changes()
		if got := c.Drops()[r]; got >= n {
			if got != n {
				t.Fatalf("%s drops = %d, want %d", r, got, n)
			}
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s drops = %d, want %d", r, c.Drops()[r], n)
		}
	}
}

func TestNewValidates(t *testing.T) {
	id := newIdentity(t)
	tests := []struct {
		name string
		cfg  signaling.Config
		want string
	}{
		{"no identity", signaling.Config{Brokers: []string{"mqtt://127.0.0.1"}}, "Identity"},
		{"no brokers", signaling.Config{Identity: id}, "broker"},
		{"bad scheme", signaling.Config{Identity: id, Brokers: []string{"http://x"}}, "scheme"},
		{"ttl above max", signaling.Config{Identity: id, Brokers: []string{"mqtt://x"}, TTL: time.Hour}, "MaxTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := signaling.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want error with %q", c, err, tt.want)
			}
		})
	}
}

func TestSendBeforeStartAndAfterClose(t *testing.T) {
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	id := newIdentity(t)
	c, err := signaling.New(signaling.Config{Identity: id, Brokers: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	peer := signaling.Peer{NodeID: id.NodeID()}
	if err := c.Send(context.Background(), peer, signaling.Echo, nil, ""); !errors.Is(err, signaling.ErrNotStarted) {
		t.Errorf("Send before Start = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// A node can message itself: the broker hands the message back.
	if _, via, err := c.Echo(ctx, peer); err != nil || via != url {
		t.Errorf("self echo: %q, %v", via, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoClientGoroutines(t)
	if err := c.Send(ctx, peer, signaling.Echo, nil, ""); !errors.Is(err, signaling.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
	if got := c.ConnectedOffsets(); len(got) != 0 {
		t.Errorf("connected after Close: %v", got)
	}
}

func TestStartWithBrokerDown(t *testing.T) {
	checkLeaks(t)
	m := signalingtest.StartMosquitto(t)
	m.Stop()
	c, err := signaling.New(signaling.Config{Identity: newIdentity(t), Brokers: []string{m.URL()}, ConnectRetryInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Start(short); !errors.Is(err, signaling.ErrNoBroker) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want ErrNoBroker and deadline exceeded", err)
	}
	if st := c.Brokers()[0]; st.Connected || st.LastError == "" {
		t.Errorf("broker status while down: %+v", st)
	}
	// ConnectRetry keeps trying: the broker coming up later is picked up.
	m.Restart()
	waitBrokers(t, c, 0)
}

// TestInjectedClock checks that the receiver judges ts by Config.Now: a node
// whose clock runs a minute behind sees a current message as from the future.
func TestInjectedClock(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t))
	c1 := startClient(t, newIdentity(t), []string{url})
	behind := func() time.Time { return time.Now().Add(-time.Minute) }
	c2 := startClient(t, newIdentity(t), []string{url}, func(cfg *signaling.Config) { cfg.Now = behind })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, _, err := c1.Echo(ctx, signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{0}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("echo to a node a minute behind: %v, want no reply", err)
	}
	waitDrops(t, c2, signaling.DropFuture, 1)
}
