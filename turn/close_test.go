package turn_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/turn"
)

// TestControlConnectionLost cuts the control connection under an allocation
// with an accepted connection: the server deletes the allocation and, with
// it, the relayed connection, which is why Close keeps the allocation while
// accepted connections are open.
func TestControlConnectionLost(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			url := srv.start(t)
			ctrl := make(chan net.Conn, 1)
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err == nil {
					select {
					case ctrl <- c: // the first connection is the control connection
					default:
					}
				}
				return c, err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, err := turn.Allocate(ctx, turn.Config{URL: url, Dial: dial, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			permit(t, a, loopback)
			cb := dialFrom(t, loopback, a.RelayedAddr())
			ca := accept(t, a)
			exchange(t, ca, cb, 4096)

			_ = (<-ctrl).Close()
			if _, err := a.Accept(ctx); !errors.Is(err, turn.ErrControlLost) {
				t.Errorf("Accept = %v, want ErrControlLost", err)
			}
			if err := a.Permit(ctx, loopback); !errors.Is(err, turn.ErrControlLost) {
				t.Errorf("Permit = %v, want ErrControlLost", err)
			}
			_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := cb.Read(make([]byte, 1))
			if n != 0 || !(err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
				t.Errorf("peer after the allocation was deleted: Read = %d, %v; want EOF or reset", n, err)
			}
			t.Logf("peer after the allocation was deleted: %v", err)
		})
	}
}

// TestCloseKeepsAcceptedConns checks what Close leaves behind: accepted
// connections keep working, nothing else does, and closing the last one
// releases the allocation and every goroutine.
func TestCloseKeepsAcceptedConns(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			url := srv.start(t)
			before := ourGoroutines()
			if len(before) != 0 {
				t.Fatalf("goroutines before the test:\n%s", strings.Join(before, "\n\n"))
			}
			a, ca, cb := connect(t, url)
			relayed := a.RelayedAddr()

			if err := a.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := a.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := a.Accept(context.Background()); !errors.Is(err, turn.ErrClosed) {
				t.Errorf("Accept after Close = %v, want ErrClosed", err)
			}
			if err := a.Permit(context.Background(), loopback); !errors.Is(err, turn.ErrClosed) {
				t.Errorf("Permit after Close = %v, want ErrClosed", err)
			}
			exchange(t, ca, cb, 64<<10)

			if err := ca.Close(); err != nil {
				t.Fatalf("closing the accepted conn: %v", err)
			}
			// The allocation is gone: the peer's connection ends and the
			// relayed port refuses new ones.
			_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := cb.Read(make([]byte, 1)); n != 0 || !(err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
				t.Errorf("peer after release: Read = %d, %v; want EOF", n, err)
			}
			waitReleased(t, relayed)
			if left := waitGoroutines(); len(left) != 0 {
				t.Errorf("goroutines left after release:\n%s", strings.Join(left, "\n\n"))
			}
		})
	}
}

func TestCloseWithoutConnsReleases(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			url := srv.start(t)
			a := allocate(t, url)
			permit(t, a, loopback)
			if err := a.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			waitReleased(t, a.RelayedAddr())
			if left := waitGoroutines(); len(left) != 0 {
				t.Errorf("goroutines left after Close:\n%s", strings.Join(left, "\n\n"))
			}
		})
	}
}

// waitReleased waits until the relayed address refuses connections, which
// servers do once the allocation is deleted. Until then a dial may succeed
// (pion's server closes it) or be reset (coturn, which resets peers without
// a permission).
func waitReleased(tb testing.TB, relayed netip.AddrPort) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", relayed.String(), time.Second)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return
		case err == nil:
			_ = c.Close()
		case !errors.Is(err, syscall.ECONNRESET):
			tb.Fatalf("dial the released relayed address: %v, want connection refused", err)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("relayed address %s still takes connections 5s after release (last: %v)", relayed, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a server's asynchronous teardown
	}
}

// ourGoroutines returns the stacks of goroutines started by this package or
// pion's TURN client.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var ours []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		s := string(g)
		if strings.Contains(s, "reachd/turn.") || strings.Contains(s, "pion/turn/v5/internal/client.") ||
			strings.Contains(s, "pion/turn/v5.(*Client)") {
			ours = append(ours, s)
		}
	}
	return ours
}

// waitGoroutines waits up to 2s for our goroutines to end: pion stops its
// refresh timers without waiting for their goroutines, which end shortly
// after.
func waitGoroutines() []string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := ourGoroutines()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond) // polling goroutines nobody can join
	}
}

// TestHalfCloseEndsRelay documents that neither server relays a half-close:
// when the peer shuts down its sending side, the server closes the relayed
// connection both ways, so A reads the end and nothing A sends arrives.
func TestHalfCloseEndsRelay(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			_, ca, cb := connect(t, srv.start(t))
			if err := cb.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			_ = ca.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := ca.Read(make([]byte, 1)); n != 0 || !errors.Is(err, srv.peerClosed) {
				t.Fatalf("A after the peer's CloseWrite: Read = %d, %v; want 0, %v", n, err, srv.peerClosed)
			}
			_, _ = ca.Write([]byte("late")) // may fail: the server has closed
			_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := cb.Read(make([]byte, 4)); n != 0 || !errors.Is(err, srv.peerClosed) {
				t.Fatalf("peer after its CloseWrite: Read = %d, %v; want 0, %v", n, err, srv.peerClosed)
			}
		})
	}
}
