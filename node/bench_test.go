package node_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// BenchmarkStream measures one direction of a secured direct connection
// between two nodes on this machine (TLS 1.3 and the connection's read
// buffer, without the API), next to raw loopback TCP.
func BenchmarkStream(b *testing.B) {
	const size = 64 << 20
	buf := make([]byte, 1<<20)
	b.Run("secured", func(b *testing.B) {
		rv := rendezvoustest.Start(b)
		x, y := nodetest.Start(b, rv), nodetest.Start(b, rv)
		addr, _ := address.Parse(y.Address())
		c, err := x.Connect(context.Background(), addr, []string{node.StrategyDirect})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		in := waitInbound(b, y, x.ID(), node.StrategyDirect)
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			go func() {
				for left := size; left > 0; left -= len(buf) {
					c.Write(buf[:min(left, len(buf))])
				}
			}()
			for n := 0; n < size; {
				p, err := in.Read(context.Background(), 1<<20)
				if err != nil {
					b.Fatal(err)
				}
				n += len(p)
			}
		}
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
