package signaling_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous"
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

// TestReconnectPastSilentSession: after the node's address changed, the
// broker still holds the old connection (its path went silent; nothing
// closed it) when Reconnect connects again, five times over. Messages must
// reach the node on each new connection. (A reconnect uses a client ID of
// its own, so that no broker has to take the old session over: NATS
// refuses the ID until it has ended the old one, and mochi's takeover of a
// session whose connection is dead races that session's cleanup.)
func TestReconnectPastSilentSession(t *testing.T) {
	checkLeaks(t)
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(t, func(c *rendezvous.Config) {
		c.MQTTAnonymous = true // the node signs in for the proxy's address
	}))
	proxy := newSilencer(t, strings.TrimPrefix(url, "mqtt://"))
	c1 := startClient(t, newIdentity(t), []string{"mqtt://" + proxy.addr()})
	c2 := startClient(t, newIdentity(t), []string{url})
	to1 := signaling.Peer{NodeID: c1.ID(), SignalOffsets: []int{0}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := c2.Echo(ctx, to1); err != nil {
		t.Fatalf("echo before: %v", err)
	}
	for round := range 5 {
		proxy.silence() // the old path: open at both ends, carrying nothing
		changes := c1.Changes()
		want := c1.Brokers()[0].Connects + 1
		c1.Reconnect()
		for st := c1.Brokers()[0]; !st.Connected || st.Connects < want; st = c1.Brokers()[0] {
			select {
			case <-changes:
				changes = c1.Changes()
			case <-ctx.Done():
				t.Fatalf("round %d: brokers %+v: want connected again", round, c1.Brokers())
			}
		}
		ectx, ecancel := context.WithTimeout(ctx, 5*time.Second)
		_, _, err := c2.Echo(ectx, to1)
		ecancel()
		if err != nil {
			t.Fatalf("round %d: echo after the reconnect: %v", round, err)
		}
	}
}

// silencer is a TCP proxy to target whose silence makes every connection
// open so far stop carrying bytes, both ways, without closing it: what a
// connection through a NAT whose WAN address changed looks like.
type silencer struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []*silencedConn
	wg     sync.WaitGroup
	target string
}

type silencedConn struct {
	silent atomic.Bool
	a, b   net.Conn
}

func newSilencer(t *testing.T, target string) *silencer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silencer{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.a.Close()
			c.b.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	s.wg.Go(func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			c := &silencedConn{a: a, b: b}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() { c.pipe(a, b) })
			s.wg.Go(func() { c.pipe(b, a) })
		}
	})
	return s
}

func (s *silencer) addr() string { return s.ln.Addr().String() }

func (s *silencer) silence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.silent.Store(true)
	}
}

// pipe copies from src to dst until either closes; once silent it reads
// and drops, so that neither end sees a close or a full window.
func (c *silencedConn) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		if c.silent.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			return
		}
	}
}
