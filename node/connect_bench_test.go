package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// BenchmarkConnectLoopback measures a fresh connect between two nodes on
// loopback: the default race against direct alone (issue: the race should
// cost little more than its winner).
func BenchmarkConnectLoopback(b *testing.B) {
	rv := rendezvoustest.Start(b)
	a := nodetest.Start(b, rv)
	peer := nodetest.Start(b, rv)
	addr := mustParse(b, peer.Address())
	for _, bc := range []struct {
		name       string
		strategies []string
	}{{"default", nil}, {"direct", []string{"direct"}}} {
		b.Run(bc.name, func(b *testing.B) {
			var total, winner time.Duration
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				c, err := a.ConnectWith(ctx, addr, node.ConnectOptions{Strategies: bc.strategies, Fresh: true})
				total += time.Since(start)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				for _, at := range c.Info().Attempts {
					if at.Outcome == node.OutcomeOK {
						winner += time.Duration(at.FinishedMS) * time.Millisecond
					}
				}
				c.Close()
			}
			// ms/connect is the answer's wait; ms-won/connect when the
			// winning attempt finished, as the race recorded it.
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/connect")
			b.ReportMetric(float64(winner.Milliseconds())/float64(b.N), "ms-won/connect")
		})
	}
}
