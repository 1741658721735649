package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/internal/natlab"
)

// BenchmarkLabStrategies measures, per strategy, the time to connect
// (median and p95 of 20 POST /v1/connections) and the goodput of one
// direction through the API's WebSocket streams, next to raw TCP between
// the same two namespaces. Run it with
//
//	go test -run '^$' -bench LabStrategies -benchtime 1x ./internal/e2e
func BenchmarkLabStrategies(b *testing.B) {
	nodes, lab := labMatrix(b)
	const connects = 20
	const size = 256 << 20
	for _, tt := range []struct{ strategy, from, to string }{
		{"direct", "easy-a", "public-b"},
		{"reverse", "public-a", "easy-b"},
		{"punch", "easy-a", "easy-b"},
		{"relay", "hard-a", "hard-b"},
	} {
		b.Run(tt.strategy, func(b *testing.B) {
			from, to := nodes[tt.from], nodes[tt.to]
			for range b.N {
				var ms []float64
				for range connects {
					start := time.Now()
					status, c := connectFresh(b, from, to, tt.strategy)
					if status != http.StatusCreated {
						b.Fatalf("connect: %d %s", status, c.Detail)
					}
					ms = append(ms, float64(time.Since(start).Microseconds())/1000)
					from.close(b, c.ID)
				}
				slices.Sort(ms)
				b.ReportMetric(ms[len(ms)/2], "connect-p50-ms")
				b.ReportMetric(ms[len(ms)*95/100], "connect-p95-ms")

				status, c := connect(b, from, to, tt.strategy)
				if status != http.StatusCreated {
					b.Fatalf("connect: %d %s", status, c.Detail)
				}
				in := to.inbound(b, from.info.NodeID, tt.strategy)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				wsA, wsB := from.stream(ctx, b, c.ID), to.stream(ctx, b, in.ID)
				secured := oneWay(ctx, b, wsA, wsB, size)
				wsA.CloseNow()
				wsB.CloseNow()
				cancel()
				from.close(b, c.ID)

				raw := rawTCP(b, from.host, lab.WAN(), lab.WANAddrs()[0], size)
				b.ReportMetric(secured, "secured-MB/s")
				b.ReportMetric(raw, "raw-tcp-MB/s")
				b.ReportMetric(100*secured/raw, "secured-%-of-raw")
			}
		})
	}
}

// oneWay sends size bytes from wsA to wsB and returns MB/s.
func oneWay(ctx context.Context, b *testing.B, wsA, wsB *websocket.Conn, size int) float64 {
	buf := make([]byte, 1<<20)
	start := time.Now()
	go func() {
		for left := size; left > 0; left -= len(buf) {
			if err := wsA.Write(ctx, websocket.MessageBinary, buf[:min(left, len(buf))]); err != nil {
				return
			}
		}
	}()
	for n := 0; n < size; {
		_, r, err := wsB.Reader(ctx)
		if err != nil {
			b.Fatalf("read after %d bytes: %v", n, err)
		}
		m, _ := io.Copy(io.Discard, r)
		n += int(m)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds()
}

// rawTCP sends size bytes over a plain TCP connection from host from to
// a listener at ip in namespace to, and returns MB/s: the baseline of what
// the namespaces and routers carry without reachd.
func rawTCP(b *testing.B, from, to *natlab.Host, ip netip.Addr, size int) float64 {
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp4", ip.String()+":41000")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	var c net.Conn
	if err := from.Do(func() (err error) {
		c, err = net.Dial("tcp4", ip.String()+":41000")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	for left := size; left > 0; left -= len(buf) {
		c.Write(buf[:min(left, len(buf))])
	}
	c.Close()
	if n := <-got; n != int64(size) {
		b.Fatalf("raw tcp: %d of %d bytes", n, size)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds()
}
