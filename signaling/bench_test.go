package signaling_test

import (
	"context"
	"flag"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/signaling/signalingtest"
)

var benchClients = flag.Int("clients", envInt("REACHD_BENCH_CLIENTS", 50),
	"clients BenchmarkSubscribedClients keeps on one broker (env REACHD_BENCH_CLIENTS)")

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkEchoRTT measures echo round trips between two clients through one
// broker on loopback and reports the median and 99th percentile.
func BenchmarkEchoRTT(b *testing.B) {
	brokers := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"embedded", func(b *testing.B) string { return rendezvoustest.MQTTURL(rendezvoustest.Start(b)) }},
		{"mosquitto", func(b *testing.B) string { return signalingtest.StartMosquitto(b).URL() }},
	}
	for _, br := range brokers {
		b.Run(br.name, func(b *testing.B) {
			url := br.start(b)
			c1 := startClient(b, newIdentity(b), []string{url})
			c2 := startClient(b, newIdentity(b), []string{url})
			peer := signaling.Peer{NodeID: c2.ID(), SignalOffsets: []int{0}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rtts := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				rtt, _, err := c1.Echo(ctx, peer)
				if err != nil {
					b.Fatal(err)
				}
				rtts = append(rtts, rtt)
			}
			b.StopTimer()
			slices.Sort(rtts)
			b.ReportMetric(float64(percentile(rtts, 50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(percentile(rtts, 99).Microseconds()), "p99-µs")
		})
	}
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

// BenchmarkSubscribedClients starts -clients clients (default 50; set
// REACHD_BENCH_CLIENTS or -clients=1000 for the capacity run, with
// -benchtime=1x) on one embedded broker in this process, waits until every
// one is subscribed, checks that the last one still reaches the first by
// echo, and reports the time to get them all subscribed and the goroutines
// and heap each one costs.
func BenchmarkSubscribedClients(b *testing.B) {
	n := *benchClients
	url := rendezvoustest.MQTTURL(rendezvoustest.Start(b))
	for b.Loop() {
		b.StopTimer()
		ids := make([]signaling.Config, n)
		for i := range ids {
			ids[i] = signaling.Config{Identity: newIdentity(b), Brokers: []string{url}, Workers: 1, QueueSize: 16}
		}
		runtime.GC()
		var ms0 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		g0 := runtime.NumGoroutine()

		b.StartTimer()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		clients := make([]*signaling.Client, n)
		for i, cfg := range ids {
			c, err := signaling.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			clients[i] = c
			if err := c.Start(ctx); err != nil {
				b.Fatalf("client %d: %v", i, err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()

		subscribed := 0
		for _, c := range clients {
			if len(c.ConnectedOffsets()) == 1 {
				subscribed++
			}
		}
		if _, _, err := clients[n-1].Echo(ctx, signaling.Peer{NodeID: clients[0].ID(), SignalOffsets: []int{0}}); err != nil {
			b.Fatalf("echo across %d clients: %v", n, err)
		}
		runtime.GC()
		var ms1 runtime.MemStats
		runtime.ReadMemStats(&ms1)
		g1 := runtime.NumGoroutine()
		cancel()
		for _, c := range clients {
			_ = c.Close()
		}

		b.ReportMetric(float64(subscribed), "subscribed")
		b.ReportMetric(float64(elapsed.Milliseconds()), "ms-to-subscribe-all")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/client")
		b.ReportMetric(float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/float64(n)/1024, "heap-KiB/client")
		b.StartTimer()
	}
}
