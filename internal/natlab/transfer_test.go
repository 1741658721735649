//go:build linux

package natlab_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// transfer sends size pseudo-random bytes over TCP from one host to the
// other and returns how long it took until the receiver had them all, after
// checking that they arrived intact.
func transfer(tb testing.TB, from, to *natlab.Host, size int) time.Duration {
	tb.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(to.IP(), 0).String())
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sum [sha256.Size]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		var res result
		defer func() { got <- res }()
		c, err := ln.Accept()
		if err != nil {
			res.err = err
			return
		}
		defer c.Close()
		h := sha256.New()
		res.n, res.err = io.Copy(h, c)
		copy(res.sum[:], h.Sum(nil))
	}()

	data := make([]byte, size)
	var seed [32]byte
	seed[0] = byte(size)
	_, _ = rand.NewChaCha8(seed).Read(data)
	want := sha256.Sum256(data)

	var c net.Conn
	start := time.Now()
	if err := from.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	_, werr := io.Copy(c, bytes.NewReader(data))
	c.Close()
	res := <-got
	elapsed := time.Since(start)
	if werr != nil || res.err != nil {
		tb.Fatalf("transfer: write: %v, read: %v", werr, res.err)
	}
	if res.n != int64(size) || res.sum != want {
		tb.Fatalf("received %d bytes with sha256 %x, want %d bytes with %x", res.n, res.sum[:8], size, want[:8])
	}
	return elapsed
}

func mbps(size int, d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }

// TestLinkTransfer moves data over TCP through the forwarder: through a
// zero Link, whose throughput it logs, and through a lossy jittery one.
// Both must arrive intact.
func TestLinkTransfer(t *testing.T) {
	lab := natlab.New(t)
	dst := lab.AddRouter(natlab.Public).AddHost()
	tests := []struct {
		name string
		link natlab.Link
		size int
	}{
		{"zero", natlab.Link{}, 64 << 20},
		{"impaired", natlab.Link{Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.005}, 8 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := lab.AddRouter(natlab.Easy, tt.link).AddHost()
			d := transfer(t, src, dst, tt.size)
			t.Logf("%s: %d MiB in %v, %.0f MB/s", tt.link, tt.size>>20, d.Round(time.Millisecond), mbps(tt.size, d))
		})
	}
}

// TestLinkSegments checks what crosses a link during a TCP transfer: TCP
// super-frames (segmentation offload) through a plain delay, single packets
// of at most 1514 bytes (a 1500-byte MTU) once SetLink adds loss, and
// super-frames again when it is taken away.
func TestLinkSegments(t *testing.T) {
	lab := natlab.New(t)
	r := lab.AddRouter(natlab.Public, natlab.Link{Delay: time.Millisecond})
	src, dst := r.AddHost(), lab.AddRouter(natlab.Public).AddHost()
	const size = 4 << 20
	for _, step := range []struct {
		link       natlab.Link
		wantSingle bool
	}{
		{natlab.Link{Delay: time.Millisecond}, false},
		{natlab.Link{Delay: time.Millisecond, Loss: 1e-9}, true},
		{natlab.Link{Delay: time.Millisecond, Reorder: true}, true},
		{natlab.Link{}, false},
	} {
		r.SetLink(step.link)
		before := r.LinkStats()
		transfer(t, src, dst, size)
		after := r.LinkStats()
		frames, bytes := after.Frames-before.Frames, after.Bytes-before.Bytes
		if bytes < size {
			t.Fatalf("%s: %d bytes crossed the link, want at least %d", step.link, bytes, size)
		}
		avg := bytes / frames
		t.Logf("%s: %d frames, %d bytes on average", step.link, frames, avg)
		if single := avg <= 1514; single != step.wantSingle {
			t.Errorf("%s: frames of %d bytes on average; single packets = %v, want %v", step.link, avg, single, step.wantSingle)
		}
	}
}

// BenchmarkLinkThroughput moves 64 MiB over TCP between two hosts, with and
// without a forwarder (a zero Link) on the sender's router.
func BenchmarkLinkThroughput(b *testing.B) {
	const size = 64 << 20
	for _, bb := range []struct {
		name string
		opts []natlab.RouterOption
	}{
		{"no_link", nil},
		{"zero_link", []natlab.RouterOption{natlab.Link{}}},
		{"delay_1ms", []natlab.RouterOption{natlab.Link{Delay: time.Millisecond}}},
		// Loss makes the link carry single packets; 1e-6 of them hardly
		// slows TCP.
		{"per_packet", []natlab.RouterOption{natlab.Link{Loss: 1e-6}}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			lab := natlab.New(b)
			src := lab.AddRouter(natlab.Public, bb.opts...).AddHost()
			dst := lab.AddRouter(natlab.Public).AddHost()
			transfer(b, src, dst, 1<<20) // warm up: ARP, slow start
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				transfer(b, src, dst, size)
			}
		})
	}
}
