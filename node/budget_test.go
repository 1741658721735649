package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestAbortedConnHoldsNoData: a peer sends 64 KiB nobody reads, then its
// link ends (the peer stops). The connection is aborted and frees what it
// held at once: a read gets the abort, not the stale bytes, and the node
// counts nothing buffered.
func TestAbortedConnHoldsNoData(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := a.Connect(ctx, mustParse(t, b.Address()), []string{node.StrategyDirect})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	in := waitInbound(t, b, a.ID(), node.StrategyDirect)
	for b.Metrics().RecvBuffered < 64<<10 {
		if ctx.Err() != nil {
			t.Fatalf("b buffered %d bytes, want 64 KiB", b.Metrics().RecvBuffered)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.Close()
	select {
	case <-in.Done():
	case <-ctx.Done():
		t.Fatal("the connection did not end with its peer")
	}
	if got := b.Metrics().RecvBuffered; got != 0 {
		t.Errorf("b holds %d unread bytes of an aborted connection", got)
	}
	n, err := in.ReadInto(ctx, make([]byte, 128<<10))
	var ae *node.AbortError
	if n != 0 || !errors.As(err, &ae) {
		t.Errorf("read on the aborted connection: %d bytes, %v; want 0 and the abort", n, err)
	}
}

// TestStreamFloodStaysInRecvBudget: peers (one key, then four) open
// 1,100 connections each and send 2 MiB on every one to a node that
// reads nothing. What the node holds for its readers (received, unread,
// and promised by windows) stays within its receive budget, and all of
// it is freed once the peers are gone.
func TestStreamFloodStaysInRecvBudget(t *testing.T) {
	for _, keys := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d keys", keys), func(t *testing.T) {
			const budget = 64 << 20
			rv := rendezvoustest.Start(t)
			b := nodetest.Start(t, rv, withConfig(func(c *node.Config) { c.Limits.RecvBudget = budget }))
			bAddr := mustParse(t, b.Address())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var peers []*node.Node
			var wg sync.WaitGroup
			defer wg.Wait()
			payload := make([]byte, 2<<20)
			for k := range keys {
				p := nodetest.Start(t, rv)
				peers = append(peers, p)
				if k == 0 {
					probe, err := p.Connect(ctx, bAddr, []string{node.StrategyDirect})
					if err != nil {
						t.Fatal(err)
					}
					waitInbound(t, b, p.ID(), node.StrategyDirect)
					if b.Metrics().RecvBudgetUsed == 0 {
						t.Fatal("an inbound connection reserves nothing of the receive budget: the peer links do not share it")
					}
					probe.Close()
				}
				for i := range 1100 {
					c, err := p.Connect(ctx, bAddr, []string{node.StrategyDirect})
					if err != nil {
						t.Fatalf("connection %d: %v", i, err)
					}
					wg.Go(func() { c.Write(payload) })
				}
			}
			var last, peak int64 = -1, 0
			for still := 0; still < 20; {
				time.Sleep(50 * time.Millisecond)
				m := b.Metrics()
				if m.RecvBuffered > budget || m.RecvBudgetUsed > budget {
					t.Fatalf("b holds %d bytes unread, %d of its budget, more than the %d budget", m.RecvBuffered, m.RecvBudgetUsed, budget)
				}
				if m.RecvBuffered == last {
					still++
				} else {
					still = 0
				}
				last, peak = m.RecvBuffered, max(peak, m.RecvBuffered)
			}
			if peak < budget/2 {
				t.Errorf("b took in only %d bytes of a %d budget", peak, budget)
			}
			for _, p := range peers {
				p.Close()
			}
			for m := b.Metrics(); m.RecvBuffered != 0 || m.RecvBudgetUsed != 0; m = b.Metrics() {
				if ctx.Err() != nil {
					t.Fatalf("after the peers left, b still holds %d bytes unread, %d of its budget", m.RecvBuffered, m.RecvBudgetUsed)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
