package node_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestLostRacesLeaveNothing races every strategy 50 times between two
// loopback nodes, where all of them work (each connect asks for a fresh
// path, which replaces the link's), and checks that each node lists
// exactly the winning connections (the losers' paths, secured or not,
// show nowhere), and that goroutines and descriptors come back to their
// baseline once the connections close.
func TestLostRacesLeaveNothing(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	addr := mustParse(t, b.Address())
	// Default order, and an order whose preferred strategy finishes after
	// a cheaper one, so that a secured path is dropped.
	orders := [][]string{nil, {node.StrategyReverse, node.StrategyDirect, node.StrategyPunch}}
	connect := func(i int) *node.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := a.ConnectWith(ctx, addr, node.ConnectOptions{Strategies: orders[i%len(orders)], Fresh: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	connect(0).Close() // warm up lazily started goroutines
	connect(1).Close()
	waitAllClosed(t, b)
	baseG, baseFD := settle(t, 0, 0, 0)
	baseOpenedB := openedTotal(b)

	const n = 50
	var conns []*node.Conn
	outcomes := map[string]int{}
	for i := range n {
		c := connect(i)
		conns = append(conns, c)
		won := 0
		for _, at := range c.Info().Attempts {
			outcomes[at.Outcome]++
			if at.Outcome == node.OutcomeOK {
				won++
				if at.Name != c.Info().Strategy {
					t.Errorf("the ok attempt is %s, the connection says %s", at.Name, c.Info().Strategy)
				}
			}
			if at.FinishedMS < at.StartedMS {
				t.Errorf("attempt %+v finished before it started", at)
			}
		}
		if won != 1 {
			t.Errorf("connection %d: %d attempts ok, want 1: %+v", i, won, c.Info().Attempts)
		}
	}
	t.Logf("attempt outcomes over %d races: %v", n, outcomes)
	if outcomes[node.OutcomeCancelled] == 0 {
		t.Errorf("no attempt was cancelled in %d races of strategies that all work", n)
	}
	// Let late losers finish their handshakes and be dropped.
	waitInboundCount(t, b, a.ID(), n)
	if got := openedTotal(b) - baseOpenedB; got != n {
		t.Errorf("b counted %d inbound connections opened, want %d", got, n)
	}
	if got := countOpen(a, node.Outbound); got != n {
		t.Errorf("a lists %d open outbound connections, want %d", got, n)
	}
	for _, c := range conns {
		c.Close()
	}
	waitAllClosed(t, b)
	g, fd := settle(t, baseG, baseFD, 2)
	t.Logf("after %d races: goroutines %d (start %d), fds %d (start %d)", n, g, baseG, fd, baseFD)
	if g > baseG+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d, started at %d\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if fd > baseFD+2 {
		t.Errorf("file descriptors: %d, started at %d", fd, baseFD)
	}
}

func countOpen(n *node.Node, dir node.Direction) int {
	k := 0
	for _, c := range n.Conns() {
		if info := c.Info(); info.Direction == dir && info.State != node.StateClosed {
			k++
		}
	}
	return k
}

func openedTotal(n *node.Node) uint64 {
	var sum uint64
	for _, v := range n.Metrics().Opened {
		sum += v
	}
	return sum
}

// waitInboundCount waits until n lists want open inbound connections from
// peer, and fails if it lists more, or still another count once every
// losing path has had time to be dropped.
func waitInboundCount(t *testing.T, n *node.Node, peer string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := countOpen(n, node.Inbound)
		if got > want {
			t.Fatalf("%d inbound connections listed, want %d", got, want)
		}
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d inbound connections listed, want %d", got, want)
		}
		_, _, next := n.Events(n.LastEventID())
		select {
		case <-next:
		case <-time.After(time.Until(deadline)):
		}
	}
}

func waitAllClosed(t *testing.T, n *node.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for countOpen(n, node.Inbound)+countOpen(n, node.Outbound) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connections still open")
		}
		_, _, next := n.Events(n.LastEventID())
		select {
		case <-next:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// TestConnectionPath: an open connection reports its path (strategy,
// addresses, the RTT the session's pings measure) and its path history; a
// closed one has no current path and keeps the one it had.
func TestConnectionPath(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	addr := mustParse(t, b.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.Connect(ctx, addr, []string{node.StrategyDirect})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	info := c.Info()
	if p := info.Path; p == nil || p.Strategy != node.StrategyDirect || p.RemoteAddr != info.RemoteAddr || p.LocalAddr != info.LocalAddr || p.Since.IsZero() {
		t.Fatalf("path %+v, want the direct path at %s", info.Path, info.RemoteAddr)
	}
	// A new path is pinged at once; its pong comes within a round trip.
	for deadline := time.Now().Add(5 * time.Second); info.Path != nil && info.Path.RTTMS <= 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		info = c.Info()
	}
	if info.Path == nil || info.Path.RTTMS <= 0 {
		t.Errorf("path %+v: want the RTT its ping measured", info.Path)
	}
	if len(info.Paths) != 1 || info.Paths[0].RemoteAddr != info.RemoteAddr {
		t.Errorf("paths %+v, want the one path", info.Paths)
	}
	c.Close()
	info = c.Info()
	if info.Path != nil || len(info.Paths) != 1 || info.Paths[0].Strategy != node.StrategyDirect || info.CloseReason != "closed locally" {
		t.Errorf("closed: path %+v, paths %+v, reason %q; want no current path, the direct one in the history, closed locally", info.Path, info.Paths, info.CloseReason)
	}
}
