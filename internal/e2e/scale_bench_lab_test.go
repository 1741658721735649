package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// BenchmarkLabScale runs REACHD_LAB_NODES reachd processes (default 24),
// each behind a NAT router of its own (a quarter hard, the rest easy), on
// one rendezvous, and connects random pairs, 8 at a time, through the API:
// connects per second and their p50/p99, and which strategy won. Run it with
//
//	go test -run '^$' -bench LabScale -benchtime 1x ./internal/e2e
func BenchmarkLabScale(b *testing.B) {
	n := 24
	if v := os.Getenv("REACHD_LAB_NODES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 {
			b.Fatalf("REACHD_LAB_NODES %q: want a number of at least 2", v)
		}
	}
	const pairs, parallel = 200, 8
	lab := natlab.New(b)
	ntp := lab.StartNTP(b)
	wan := startRendezvous(b, lab)
	hosts := map[string]*natlab.Host{}
	for i := range n {
		kind := natlab.Easy
		if i%4 == 0 {
			kind = natlab.Hard
		}
		hosts[fmt.Sprintf("n%03d", i)] = lab.AddRouter(kind).AddHost()
	}
	start := time.Now()
	byName := startLabNodes(b, wan, ntp.Addr().String(), hosts)
	ready := time.Since(start)
	var nodes []*labNode
	for _, nd := range byName {
		nodes = append(nodes, nd)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	work := make(chan [2]*labNode)
	var mu sync.Mutex
	var ms []float64
	won := map[string]int{}
	failed := 0
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for p := range work {
				s := time.Now()
				status, c := connectFresh(b, p[0], p[1])
				d := time.Since(s)
				mu.Lock()
				if status != http.StatusCreated {
					failed++
					b.Logf("%s -> %s: %d %s", p[0].name, p[1].name, status, c.Detail)
				} else {
					ms = append(ms, float64(d.Microseconds())/1000)
					won[c.Strategy]++
				}
				mu.Unlock()
				if status == http.StatusCreated {
					p[0].close(b, c.ID)
				}
			}
		})
	}
	for range pairs {
		x := rng.IntN(len(nodes))
		y := (x + 1 + rng.IntN(len(nodes)-1)) % len(nodes)
		work <- [2]*labNode{nodes[x], nodes[y]}
	}
	close(work)
	wg.Wait()
	wall := time.Since(t0)
	slices.Sort(ms)
	if len(ms) == 0 {
		b.Fatal("no connect succeeded")
	}
	p := func(q int) float64 { return ms[min(len(ms)-1, len(ms)*q/100)] }
	fmt.Fprintf(os.Stderr, "| lab nodes (1/4 hard NAT) | %d, all ready in %v |\n", n, ready.Round(time.Millisecond))
	fmt.Fprintf(os.Stderr, "| lab connects p50 / p99 | %.1f / %.1f ms (%d failed of %d; won: %v) |\n", p(50), p(99), failed, pairs, won)
	fmt.Fprintf(os.Stderr, "| lab connects per second (%d at once) | %.1f |\n", parallel, float64(len(ms))/wall.Seconds())
	b.ReportMetric(p(50), "connect-p50-ms")
	b.ReportMetric(p(99), "connect-p99-ms")
	b.ReportMetric(float64(len(ms))/wall.Seconds(), "connects/s")
}
