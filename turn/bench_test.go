package turn_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reachd/reachd/turn"
)

// BenchmarkConnect measures the relay flow's connect latency: allocate,
// permit, the peer's dial, accept; then both ends and the allocation are
// closed. "raw" is a plain loopback TCP connect and accept for comparison.
func BenchmarkConnect(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		for b.Loop() {
			cb, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			ca, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			_ = ca.Close()
			_ = cb.Close()
		}
		reportConnect(b)
	})
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			url := srv.start(b)
			for b.Loop() {
				a, ca, cb := connectNoCleanup(b, url)
				_ = cb.Close()
				_ = ca.Close()
				_ = a.Close()
			}
			reportConnect(b)
		})
	}
}

func reportConnect(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/connect")
}

// BenchmarkGoodput sends 1 MiB per iteration from the peer to the
// initiator through the relay, or over one loopback TCP connection ("raw").
func BenchmarkGoodput(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		cb, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer cb.Close()
		ca, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer ca.Close()
		goodput(b, ca, cb)
	})
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			_, ca, cb := connect(b, srv.start(b))
			goodput(b, ca, cb)
		})
	}
}

func goodput(b *testing.B, dst, src net.Conn) {
	const size = 1 << 20
	b.SetBytes(size)
	chunk := make([]byte, size)
	buf := make([]byte, 64<<10)
	werr := make(chan error, 1)
	b.ResetTimer()
	go func() {
		var err error
		for i := 0; i < b.N && err == nil; i++ {
			_, err = src.Write(chunk)
		}
		werr <- err
	}()
	_ = dst.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.CopyBuffer(io.Discard, io.LimitReader(onlyReader{dst}, int64(b.N)*size), buf); err != nil {
		b.Fatal(err)
	}
	if err := <-werr; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*size*8/1e6/b.Elapsed().Seconds(), "Mbit/s")
}

// onlyReader hides the connection's WriteTo, so that every case reads
// through the same 64 KiB buffer.
type onlyReader struct{ io.Reader }

// connectNoCleanup is connect without t.Cleanup, for loops.
func connectNoCleanup(b *testing.B, url string) (*turn.Allocation, net.Conn, net.Conn) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := allocateCtx(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Permit(ctx, loopback); err != nil {
		b.Fatal(err)
	}
	cb, err := net.Dial("tcp", a.RelayedAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	ca, err := a.Accept(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return a, ca, cb
}
