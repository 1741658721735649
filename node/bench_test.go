package node_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// BenchmarkStream measures one direction of a secured direct connection
// between two nodes on this machine (TLS 1.3 and the connection's reader,
// without the API), next to raw loopback TCP; allocs/MiB counts the whole
// process's allocations (crypto/tls makes one per read from the socket).
// The table of every layer, crypto/tls alone and the API is in ../bench.
func BenchmarkStream(b *testing.B) {
	const size = 64 << 20
	buf := make([]byte, 1<<20)
	b.Run("secured", func(b *testing.B) {
		rv := rendezvoustest.Start(b)
		x, y := nodetest.Start(b, rv), nodetest.Start(b, rv)
		addr := mustParse(b, y.Address())
		c, err := x.Connect(context.Background(), addr, []string{node.StrategyDirect})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		in := waitInbound(b, y, x.ID(), node.StrategyDirect)
		rbuf := make([]byte, 1<<20)
		b.SetBytes(size)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		b.ResetTimer()
		for range b.N {
			go func() {
				for left := size; left > 0; left -= len(buf) {
					c.Write(buf[:min(left, len(buf))])
				}
			}()
			for n := 0; n < size; {
				m, err := in.ReadInto(context.Background(), rbuf)
				if err != nil {
					b.Fatal(err)
				}
				n += m
			}
		}
		b.StopTimer()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/(float64(b.N)*size/(1<<20)), "allocs/MiB")
	})
	b.Run("raw-tcp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				io.Copy(io.Discard, c)
			}
		}()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			for left := size; left > 0; left -= len(buf) {
				c.Write(buf[:min(left, len(buf))])
			}
		}
	})
}
