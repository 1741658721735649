package session_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

// quiet pings only when asked: the links' own pings would answer Ping too.
var quiet = session.Config{PingInterval: time.Hour, DeadAfter: 2 * time.Hour}

// TestPing: a ping over the path comes back with its round trip, which
// the link then reports as its RTT; traffic sets the link's Active time.
func TestPing(t *testing.T) {
	a, b := sessiontest.Pair(t, quiet)
	sessiontest.Connect(t, a, b, sessiontest.TCP)
	if got := a.Stats().Active; !got.IsZero() {
		t.Errorf("Active = %v before any stream", got)
	}
	for range 3 {
		rtt, err := a.Ping(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if rtt <= 0 || rtt != a.RTT() {
			t.Fatalf("Ping = %v, RTT() = %v: want the same positive round trip", rtt, a.RTT())
		}
	}
	before := time.Now()
	s, err := a.Open(ctxT(t), session.Header{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	sb, err := b.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// A reply read on a: the link marks itself active before it hands
	// received bytes on, so Active has moved by then.
	if _, err := sb.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if got := a.Stats().Active; got.Before(before) {
		t.Errorf("Active = %v, want after %v (a stream was opened)", got, before)
	}
}

// TestPingWaitsForAPath: a ping asked while the link has no path is sent
// on the path attached next.
func TestPingWaitsForAPath(t *testing.T) {
	a, b := sessiontest.Pair(t, quiet)
	done := make(chan error, 1)
	go func() {
		_, err := a.Ping(ctxT(t))
		done <- err
	}()
	sessiontest.Connect(t, a, b, sessiontest.Pipe)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPingUnanswered: a ping over a path that lost its way ends with the
// caller's context, though an earlier pong measured the path; on a closed
// link, with the link's error.
func TestPingUnanswered(t *testing.T) {
	a, b := sessiontest.Pair(t, quiet)
	x, y := sessiontest.Pipe(t)
	hole := sessiontest.NewBlackhole(x)
	sessiontest.Attach(t, a, b, hole, y)
	if _, err := a.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	hole.Cut()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping over a black hole: %v, want the context's deadline", err)
	}
	a.Close()
	if _, err := a.Ping(t.Context()); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("Ping on a closed link: %v, want ErrClosed", err)
	}
}
