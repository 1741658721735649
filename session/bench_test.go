package session_test

import (
	"context"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

const benchChunk = 1 << 20 // one op moves 1 MiB, so allocs/op is allocs per MiB

// benchCopy measures one direction: b.N MiB written to w in 64 KiB writes
// and read from r into a 64 KiB buffer.
func benchCopy(b *testing.B, w io.Writer, r io.Reader) {
	b.Helper()
	buf := make([]byte, 64<<10)
	done := make(chan error, 1)
	total := int64(b.N) * benchChunk
	go func() {
		rb := make([]byte, 64<<10)
		var got int64
		for got < total {
			n, err := r.Read(rb)
			got += int64(n)
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i := 0; i < benchChunk; i += len(buf) {
			if _, err := w.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// BenchmarkGoodput compares one stream over a link on loopback TCP+TLS
// with raw TCP and plain crypto/tls on the same machine, in one run.
func BenchmarkGoodput(b *testing.B) {
	b.Run("tcp", func(b *testing.B) {
		x, y := sessiontest.TCP(b)
		defer x.Close()
		defer y.Close()
		benchCopy(b, x, y)
	})
	b.Run("tls", func(b *testing.B) {
		x, y := sessiontest.TLS(b)
		defer x.Close()
		defer y.Close()
		benchCopy(b, x, y)
	})
	for _, tc := range []struct {
		name string
		mk   sessiontest.PathMaker
	}{
		{"session-tcp", sessiontest.TCP},
		{"session-tls", sessiontest.TLS},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a, c := sessiontest.Pair(b, session.Config{})
			sessiontest.Connect(b, a, c, tc.mk)
			s, err := a.Open(context.Background(), session.Header{})
			if err != nil {
				b.Fatal(err)
			}
			s.Write([]byte{})
			r, err := c.Accept(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			// Warm the pools and windows.
			benchCopyN(b, s, r, 8)
			benchCopy(b, s, r)
		})
	}
}

func benchCopyN(b *testing.B, w io.Writer, r io.Reader, mib int) {
	go func() {
		buf := make([]byte, 64<<10)
		for range mib * 16 {
			w.Write(buf)
		}
	}()
	if _, err := io.CopyN(io.Discard, r, int64(mib)<<20); err != nil {
		b.Fatal(err)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkIdle reports the heap an idle stream and an idle link (with
// its path, over net.Pipe) hold on one side, and the goroutines an idle
// link keeps (each with a stack of a few KiB). The op is empty; the
// metrics are what counts.
func BenchmarkIdle(b *testing.B) {
	b.Run("stream", func(b *testing.B) {
		a, c := sessiontest.Pair(b, session.Config{})
		sessiontest.Connect(b, a, c, sessiontest.Pipe)
		ctx := context.Background()
		const n = 1000
		streams := make([]*session.Stream, 0, 2*n)
		before := heapAlloc()
		for range n {
			s, err := a.Open(ctx, session.Header{Service: "idle"})
			if err != nil {
				b.Fatal(err)
			}
			s.Write([]byte("x"))
			r, err := c.Accept(ctx)
			if err != nil {
				b.Fatal(err)
			}
			r.Read(make([]byte, 1))
			streams = append(streams, s, r)
		}
		after := heapAlloc()
		b.ReportMetric(float64(after-before)/(2*n), "heap-B/stream")
		runtime.KeepAlive(streams)
		for range b.N {
		}
	})
	b.Run("link", func(b *testing.B) {
		const n = 200
		links := make([]*session.Link, 0, 2*n)
		g := runtime.NumGoroutine()
		before := heapAlloc()
		for range n {
			a, c := sessiontest.Pair(b, session.Config{})
			sessiontest.Connect(b, a, c, sessiontest.Pipe)
			links = append(links, a, c)
		}
		after := heapAlloc()
		b.ReportMetric(float64(after-before)/(2*n), "heap-B/link")
		b.ReportMetric(float64(runtime.NumGoroutine()-g)/(2*n), "goroutines/link")
		runtime.KeepAlive(links)
		for range b.N {
		}
	})
}

// BenchmarkGoodputRounds moves 256 MiB per variant per round, the variants
// interleaved, and reports the median MB/s of each and the median of the
// ratios taken within each round (so load from elsewhere on the machine
// hits both sides of a ratio alike). One op is the whole table.
func BenchmarkGoodputRounds(b *testing.B) {
	const size = 256 << 20
	const rounds = 5
	type variant struct {
		name string
		w    io.Writer
		r    io.Reader
	}
	var vs []variant
	x, y := sessiontest.TCP(b)
	defer x.Close()
	defer y.Close()
	vs = append(vs, variant{"tcp", x, y})
	tx, ty := sessiontest.TLS(b)
	defer tx.Close()
	defer ty.Close()
	vs = append(vs, variant{"tls", tx, ty})
	for _, mk := range []struct {
		name string
		mk   sessiontest.PathMaker
	}{{"session-tcp", sessiontest.TCP}, {"session-tls", sessiontest.TLS}} {
		a, c := sessiontest.Pair(b, session.Config{})
		sessiontest.Connect(b, a, c, mk.mk)
		s, _ := a.Open(context.Background(), session.Header{})
		s.Write([]byte{})
		r, err := c.Accept(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		benchCopyN(b, s, r, 8)
		vs = append(vs, variant{mk.name, s, r})
	}
	for range b.N {
		speeds := make(map[string][]float64)
		var ratioTLS, ratioTCP []float64
		for range rounds {
			got := map[string]float64{}
			for _, v := range vs {
				start := time.Now()
				benchCopyN(b, v.w, v.r, size>>20)
				got[v.name] = size / time.Since(start).Seconds() / 1e6
				speeds[v.name] = append(speeds[v.name], got[v.name])
			}
			ratioTLS = append(ratioTLS, got["session-tls"]/got["tls"])
			ratioTCP = append(ratioTCP, got["session-tcp"]/got["tcp"])
		}
		for _, v := range vs {
			b.ReportMetric(median(speeds[v.name]), v.name+"-MB/s")
		}
		b.ReportMetric(median(ratioTLS), "session/tls")
		b.ReportMetric(median(ratioTCP), "session/tcp")
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
