package session_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
)

// source is a deterministic pseudo-random byte stream.
type source struct{ r *rand.ChaCha8 }

func newSource(seed byte) *source {
	var s [32]byte
	s[0] = seed
	return &source{rand.NewChaCha8(s)}
}

func (s *source) Read(p []byte) (int, error) { return s.r.Read(p) }

// sendAll writes n pseudo-random bytes (seed) in writes of size chunk,
// then ends the direction cleanly, and returns their SHA-256.
func sendAll(w interface {
	io.Writer
	CloseWrite() error
}, seed byte, n int64, chunk int) ([32]byte, error) {
	h := sha256.New()
	buf := make([]byte, chunk)
	src := newSource(seed)
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		src.Read(b)
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return [32]byte{}, err
		}
		n -= int64(len(b))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, w.CloseWrite()
}

// recvAll reads to the end and returns the SHA-256 and count.
func recvAll(r io.Reader, progress func(int64)) ([32]byte, int64, error) {
	h := sha256.New()
	buf := make([]byte, 48<<10)
	var total int64
	for {
		n, err := r.Read(buf)
		h.Write(buf[:n])
		total += int64(n)
		if progress != nil && n > 0 {
			progress(total)
		}
		if err == io.EOF {
			var sum [32]byte
			h.Sum(sum[:0])
			return sum, total, nil
		}
		if err != nil {
			return [32]byte{}, total, err
		}
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// checkGoroutines fails when goroutines outlive the test (after the
// links' Close in cleanups registered later, which run first).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before, %d after close:\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

var _ = session.KindBytes
