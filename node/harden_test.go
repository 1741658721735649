package node_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

func withConfig(f func(*node.Config)) nodetest.Option { return nodetest.Option(f) }

// mustParse parses a peer address the test made.
func mustParse(t testing.TB, text string) address.Address {
	t.Helper()
	a, err := address.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSilentConnectionsDoNotStarveDirect is 200 silent TCP connections
// from one source IP against the peer port: they fill at most that
// source's handshake slots, and genuine direct connects from another IP
// still succeed, every time.
func TestSilentConnectionsDoNotStarveDirect(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	bAddr := mustParse(t, b.Address())
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(bAddr.IPv4[0].ListenPort)))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var silent []net.Conn
	for range 200 {
		c, err := d.Dial("tcp", target)
		if err != nil {
			t.Fatalf("silent connection %d: %v", len(silent), err)
		}
		silent = append(silent, c)
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := a.Connect(ctx, bAddr, []string{node.StrategyDirect})
		cancel()
		if err != nil {
			t.Fatalf("direct connect %d with 200 silent connections open: %v", i, err)
		}
		c.Close()
	}
	if n := b.Metrics().Refused[node.RefusedHandshakesPerIP]; n < 200-16 {
		t.Errorf("%d connections refused for too many handshakes from one IP, want at least %d", n, 200-16)
	}
}

// TestAllowlistRefusesStrangerBeforeDial: a node that lets in only a
// refuses a stranger's reverse connect without dialling it, and its
// direct connection after TLS, while a connects as before.
func TestAllowlistRefusesStrangerBeforeDial(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	stranger := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv, withConfig(func(c *node.Config) {
		c.Accept = node.AcceptAllowlist
		c.Allow = []string{a.ID()}
	}))
	bAddr := mustParse(t, b.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := stranger.Connect(ctx, bAddr, []string{node.StrategyReverse})
	var ce *node.ConnectError
	if !errors.As(err, &ce) || ce.Attempts[0].Class != "peer_refused" || !strings.Contains(ce.Attempts[0].Reason, "not allowed") {
		t.Fatalf("stranger's reverse connect: %v, want a peer_refused attempt saying not allowed", err)
	}
	_, err = stranger.Connect(ctx, bAddr, []string{node.StrategyDirect})
	if !errors.As(err, &ce) || ce.Attempts[0].Class != "peer_refused" {
		t.Fatalf("stranger's direct connect: %v, want a peer_refused attempt", err)
	}
	if n := b.Metrics().Refused[node.RefusedPolicy]; n != 2 {
		t.Errorf("b refused %d times for policy, want 2", n)
	}
	for _, c := range stranger.Conns() {
		if c.Info().Direction == node.Inbound {
			t.Errorf("b dialled the stranger: %+v", c.Info())
		}
	}
	c, err := a.Connect(ctx, bAddr, []string{node.StrategyReverse})
	if err != nil {
		t.Fatalf("allowed peer: %v", err)
	}
	c.Close()

	// At run time: allow the stranger, then take it back.
	if _, err := b.AllowPeer(stranger.ID()); err != nil {
		t.Fatal(err)
	}
	c, err = stranger.Connect(ctx, bAddr, []string{node.StrategyDirect})
	if err != nil {
		t.Fatalf("stranger once allowed: %v", err)
	}
	c.Close()
	if _, removed := b.DisallowPeer(stranger.ID()); !removed {
		t.Error("DisallowPeer: not on the list")
	}
	if _, err := b.AllowPeer("not-a-node-id"); !errors.Is(err, node.ErrPolicy) {
		t.Errorf("AllowPeer of garbage: %v, want ErrPolicy", err)
	}
}

// TestPeerRequestFloodIsRateLimited: a peer that asks for more dial-backs
// than its rate allows gets the fixed answer "busy" for the rest, and they
// are counted.
func TestPeerRequestFloodIsRateLimited(t *testing.T) {
	rv := rendezvoustest.Start(t)
	flooder := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv, withConfig(func(c *node.Config) { c.Limits.PeerRequestRate = 0.5 }))
	bAddr := mustParse(t, b.Address())
	const n = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy, ok := 0, 0
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Fresh: each connect races, where plain connects would share one race.
			c, err := flooder.ConnectWith(ctx, bAddr, node.ConnectOptions{Strategies: []string{node.StrategyReverse}, Fresh: true})
			mu.Lock()
			defer mu.Unlock()
			var ce *node.ConnectError
			switch {
			case err == nil:
				ok++
				c.Close()
			case errors.As(err, &ce) && strings.HasSuffix(ce.Attempts[0].Reason, ": busy"):
				busy++
			default:
				t.Errorf("connect: %v", err)
			}
		})
	}
	wg.Wait()
	// A burst of two, and one every two seconds after.
	if ok > 6 || busy < n-6 {
		t.Errorf("%d dial-backs and %d busy of %d requests, want at most 6 dial-backs", ok, busy, n)
	}
	if got := b.Metrics().Refused[node.RefusedRate]; int(got) != busy {
		t.Errorf("b counted %d rate refusals, the flooder saw %d", got, busy)
	}
}

// TestInboundCapsPerPeer: a peer past its share of inbound connections is
// refused before its handshake, as busy, through whichever strategy, and
// the refusals are counted; its connections open so far stay.
func TestInboundCapsPerPeer(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv, withConfig(func(c *node.Config) { c.Limits.MaxInboundPerPeer = 2 }))
	bAddr := mustParse(t, b.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 2 {
		c, err := a.Connect(ctx, bAddr, []string{node.StrategyDirect})
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		waitInbound(t, b, a.ID(), node.StrategyDirect)
	}
	waitInboundCount(t, b, a.ID(), 2)
	// Connections to a peer are streams on its link: the third opens at
	// once and the peer aborts it, saying why.
	for range 2 {
		c, err := a.Connect(ctx, bAddr, []string{node.StrategyDirect})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("the third connection was not refused")
		}
		var ae *node.AbortError
		if err := c.Err(); !errors.As(err, &ae) || !ae.Remote || !strings.Contains(ae.Reason, node.RefusedInboundPerPeer) {
			t.Errorf("third connection ended with %v, want aborted by the peer as %s", err, node.RefusedInboundPerPeer)
		}
	}
	if n := b.Metrics().Refused[node.RefusedInboundPerPeer]; n != 2 {
		t.Errorf("b counted %d refusals past the per-peer cap, want 2", n)
	}
	if got := countOpen(b, node.Inbound); got != 2 {
		t.Errorf("b lists %d inbound connections, want the 2 it took", got)
	}
}
