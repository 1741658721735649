package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestManyConnectionsShareOnePath opens 100 connections to one peer: the
// first makes the path, the other 99 open on it without a race, every
// one carries its own bytes both ways, and the peer lists 100 inbound
// connections on the one path.
func TestManyConnectionsShareOnePath(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	addr := mustParse(t, b.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 100
	var conns []*node.Conn
	for i := range n {
		c, err := a.Connect(ctx, addr, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i > 0 && len(c.Info().Attempts) != 0 {
			t.Errorf("connection %d raced (%+v); want it on the path the first made", i, c.Info().Attempts)
		}
	}
	first := conns[0].Info().Path
	for i, c := range conns {
		p := c.Info().Path
		if p == nil || first == nil || p.LocalAddr != first.LocalAddr || p.RemoteAddr != first.RemoteAddr {
			t.Fatalf("connection %d rides %+v, the first %+v: want one path", i, p, first)
		}
		if _, err := fmt.Fprintf(c, "hello %d", i); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
	}
	waitInboundCount(t, b, a.ID(), n)
	// Each inbound connection reads exactly its own greeting and answers.
	got := map[string]bool{}
	for _, c := range b.Conns() {
		if c.Info().Direction != node.Inbound {
			continue
		}
		msg, err := readAll(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		got[string(msg)] = true
		fmt.Fprintf(c, "re: %s", msg)
		c.CloseWrite()
	}
	for i, c := range conns {
		if !got[fmt.Sprintf("hello %d", i)] {
			t.Errorf("b never read connection %d's greeting", i)
		}
		msg, err := readAll(ctx, c)
		if err != nil || string(msg) != fmt.Sprintf("re: hello %d", i) {
			t.Errorf("connection %d read %q, %v", i, msg, err)
		}
		if st := c.State(); st != node.StateClosed {
			t.Errorf("connection %d: %s after both sides finished", i, st)
		}
	}
}

// TestConcurrentConnectsRaceOnce: connects to a peer the node has no path
// to yet, made all at once, run one race between them: one connect races,
// the others wait for its path and open on it. A connect that asks for a
// fresh path still races.
func TestConcurrentConnectsRaceOnce(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	addr := mustParse(t, b.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 20
	conns := make([]*node.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { conns[i], errs[i] = a.Connect(ctx, addr, nil) })
	}
	wg.Wait()
	raced := 0
	for i, c := range conns {
		if errs[i] != nil {
			t.Fatalf("connect %d: %v", i, errs[i])
		}
		if len(c.Info().Attempts) > 0 {
			raced++
		}
		if p, first := c.Info().Path, conns[0].Info().Path; p == nil || first == nil || p.LocalAddr != first.LocalAddr || p.RemoteAddr != first.RemoteAddr {
			t.Errorf("connection %d rides %+v, connection 0 %+v: want one path", i, p, first)
		}
	}
	won := 0
	for k, v := range a.Metrics().Attempts {
		if k.Outcome == node.OutcomeOK {
			won += int(v)
		}
	}
	if raced != 1 || won != 1 {
		t.Errorf("%d connects raced and %d attempts won; want one race for %d concurrent connects", raced, won, n)
	}
	c, err := a.ConnectWith(ctx, addr, node.ConnectOptions{Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Info().Attempts) == 0 {
		t.Error("a fresh connect did not race")
	}
}

// TestConnectWaitsForTheRaceUnderWay: a connect made while another races
// for a path to the same peer waits for that race rather than racing too,
// and one whose time runs out first says so.
func TestConnectWaitsForTheRaceUnderWay(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	addr := mustParse(t, b.Address())
	b.Close() // nobody dials back: the reverse attempt lasts as long as its connect
	long, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	led := make(chan error, 1)
	go func() {
		_, err := a.Connect(long, addr, []string{node.StrategyReverse})
		led <- err
	}()
	for after := uint64(0); ; {
		evs, _, more := a.Events(after)
		started := false
		for _, ev := range evs {
			after = ev.ID
			started = started || ev.Type == node.EventAttempt
		}
		if started {
			break
		}
		<-more
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	_, err := a.Connect(short, addr, []string{node.StrategyReverse})
	var ce *node.ConnectError
	if !errors.As(err, &ce) || len(ce.Attempts) != 0 || !strings.Contains(ce.Error(), "another connect to the peer was racing") {
		t.Errorf("a connect during another's race: %v; want a ConnectError that waited, with no attempts of its own", err)
	}
	if err := <-led; !errors.As(err, &ce) || len(ce.Attempts) != 1 {
		t.Errorf("the racing connect: %v; want its own attempt", err)
	}
}

// TestLimitsOutOfRangeAreClamped: buffer limits a program gives the node
// outside what the session takes (a link buffer under one frame, a stream
// window over 1 GiB) are brought into range when the node starts, so that
// its connects work instead of failing at the first one.
func TestLimitsOutOfRangeAreClamped(t *testing.T) {
	rv := rendezvoustest.Start(t)
	odd := withConfig(func(c *node.Config) { c.Limits.LinkBuffer = 1000; c.Limits.StreamWindow = 2 << 30 })
	a, b := nodetest.Start(t, rv, odd), nodetest.Start(t, rv, odd)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.Connect(ctx, mustParse(t, b.Address()), nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	msg := strings.Repeat("x", 256<<10) // more than the asked link buffer
	go func() { io.WriteString(c, msg); c.CloseWrite() }()
	in := waitInbound(t, b, a.ID(), c.Info().Strategy)
	got, err := readAll(ctx, in)
	if err != nil || string(got) != msg {
		t.Fatalf("read %d bytes, %v; want the %d sent", len(got), err, len(msg))
	}
}

// readAll reads c to its end.
func readAll(ctx context.Context, c *node.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.ReadInto(ctx, buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// BenchmarkOpenConnections opens 1,000 connections from one node, to one
// peer and spread over 10 peers, and reports the heap each connection
// costs on both sides together (the opener and its peers), and each peer
// link (the 10-peer run's extra over the one-peer run, per extra peer).
//
//	go test -run '^$' -bench OpenConnections -benchtime 1x ./node
func BenchmarkOpenConnections(b *testing.B) {
	rv := rendezvoustest.Start(b)
	const total = 1000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	perConn := map[int]float64{}
	for _, peers := range []int{1, 10} {
		b.Run(fmt.Sprintf("peers=%d", peers), func(b *testing.B) {
			for range b.N {
				a := nodetest.Start(b, rv, withLimits(total))
				var targets []address.Address
				var peerNodes []*node.Node
				for range peers {
					p := nodetest.Start(b, rv, withLimits(total))
					peerNodes = append(peerNodes, p)
					addr := mustParse(b, p.Address())
					targets = append(targets, addr)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				base := heap()
				var conns []*node.Conn
				for i := range total {
					c, err := a.Connect(ctx, targets[i%peers], nil)
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c)
				}
				cancel()
				// Measure once the peers list theirs.
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
					listed := 0
					for _, p := range peerNodes {
						listed += countOpen(p, node.Inbound)
					}
					if listed == total {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("the peers list %d inbound connections, want %d", listed, total)
					}
				}
				used := heap() - base
				perConn[peers] = float64(used) / total
				b.ReportMetric(float64(used)/total, "B/conn")
				b.ReportMetric(float64(used)/(1<<20), "MiB")
				for _, c := range conns {
					c.Close()
				}
			}
		})
	}
	if p1, p10 := perConn[1], perConn[10]; p1 > 0 && p10 > 0 {
		b.Logf("per extra peer link: %.0f KiB (both sides)", (p10-p1)*total/9/1024)
	}
}

func withLimits(n int) nodetest.Option {
	return func(c *node.Config) { c.Limits.MaxInboundPerPeer = n; c.Limits.MaxInbound = 4 * n }
}
