package server

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// BenchmarkConnectWithEventSubscribers measures ten connects, each to a new
// peer (a race, a TLS handshake, a new link: attempt, path and connection
// events), by a node whose API has 0 or 500 clients on /v1/events, every
// one reading its stream as it comes. ns/connect is the connect latency
// while the subscribers are live; ns/connect-delivered counts until every
// subscriber has read every event of the ten connects, so it includes the
// fan-out's work.
func BenchmarkConnectWithEventSubscribers(b *testing.B) {
	for _, subs := range []int{0, 500} {
		b.Run(strconv.Itoa(subs)+"-subscribers", func(b *testing.B) {
			rv := rendezvoustest.Start(b)
			x := nodetest.Start(b, rv)
			srv, err := New(Config{Addr: "127.0.0.1:0", Node: x, MaxConns: subs + 64})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			b.Cleanup(func() { cancel(); wg.Wait() })
			var events atomic.Int64 // read by all subscribers
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
			for range subs {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr()+"/v1/events", nil)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("events: %s", resp.Status)
				}
				wg.Go(func() {
					defer resp.Body.Close()
					r := bufio.NewReader(resp.Body)
					for {
						line, err := r.ReadSlice('\n')
						if err != nil && err != bufio.ErrBufferFull {
							return
						}
						if bytes.HasPrefix(line, []byte("event: ")) {
							events.Add(1)
						}
					}
				})
			}

			const connects = 10
			var connectNS, deliveredNS time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				var peers []address.Address
				for range connects {
					a, err := address.Parse(nodetest.Start(b, rv).Address())
					if err != nil {
						b.Fatal(err)
					}
					peers = append(peers, a)
				}
				first := x.LastEventID()
				events.Store(0)
				b.StartTimer()

				start := time.Now()
				for _, p := range peers {
					cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
					c, err := x.Connect(cctx, p, []string{node.StrategyDirect})
					ccancel()
					if err != nil {
						b.Fatal(err)
					}
					c.Close()
				}
				connectNS += time.Since(start)
				want := int64(subs) * int64(x.LastEventID()-first)
				for events.Load() < want {
					time.Sleep(100 * time.Microsecond) // a benchmark's poll, not a test's synchronisation
				}
				deliveredNS += time.Since(start)
			}
			b.ReportMetric(float64(connectNS.Nanoseconds())/float64(b.N*connects), "ns/connect")
			b.ReportMetric(float64(deliveredNS.Nanoseconds())/float64(b.N*connects), "ns/connect-delivered")
		})
	}
}
