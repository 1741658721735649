package turn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachd/reachd/turn"
)

func TestAcceptEnds(t *testing.T) {
	url := servers[0].start(t)
	tests := []struct {
		name string
		end  func(a *turn.Allocation, cancel context.CancelFunc)
		want error
	}{
		{"ctx deadline", func(*turn.Allocation, context.CancelFunc) {}, context.DeadlineExceeded},
		{"ctx cancelled", func(_ *turn.Allocation, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"allocation closed", func(a *turn.Allocation, _ context.CancelFunc) { _ = a.Close() }, turn.ErrClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := allocate(t, url)
			permit(t, a, loopback)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := a.Accept(ctx)
				errc <- err
			}()
			tc.end(a, cancel)
			select {
			case err := <-errc:
				if !errors.Is(err, tc.want) {
					t.Fatalf("Accept = %v, want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Accept did not return")
			}
		})
	}
}

// TestAcceptManyPeers connects several peers at once; concurrent Accepts
// return each of them exactly once.
func TestAcceptManyPeers(t *testing.T) {
	const peers = 4
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			a := allocate(t, srv.start(t))
			permit(t, a, loopback)
			dialed := map[string]net.Conn{}
			for range peers {
				c := dialFrom(t, loopback, a.RelayedAddr())
				dialed[c.LocalAddr().String()] = c
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type result struct {
				c   net.Conn
				err error
			}
			results := make(chan result, peers)
			for range peers {
				go func() {
					c, err := a.Accept(ctx)
					results <- result{c, err}
				}()
			}
			for range peers {
				r := <-results
				if r.err != nil {
					t.Fatalf("Accept: %v", r.err)
				}
				t.Cleanup(func() { _ = r.c.Close() })
				peer, ok := dialed[r.c.RemoteAddr().String()]
				if !ok {
					t.Fatalf("accepted %s: not a peer, or accepted twice", r.c.RemoteAddr())
				}
				delete(dialed, r.c.RemoteAddr().String())
				exchange(t, r.c, peer, 4096)
			}
		})
	}
}

// TestAcceptDialFailureKeepsAttempt fails Accept's data connection once:
// Accept reports it and the next Accept binds the same peer.
func TestAcceptDialFailureKeepsAttempt(t *testing.T) {
	url := servers[0].start(t)
	var dials atomic.Int32
	refused := errors.New("refused by the test")
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 2 { // the first data connection
			return nil, refused
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := turn.Allocate(ctx, turn.Config{URL: url, Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	permit(t, a, loopback)
	cb := dialFrom(t, loopback, a.RelayedAddr())

	if _, err := a.Accept(ctx); !errors.Is(err, refused) {
		t.Fatalf("first Accept = %v, want the dial error", err)
	}
	ca := accept(t, a)
	if got, want := ca.RemoteAddr().String(), cb.LocalAddr().String(); got != want {
		t.Fatalf("second Accept returned %s, want the peer %s", got, want)
	}
	exchange(t, ca, cb, 4096)
}

// TestPeerSendsFirst has the peer write as soon as it is connected, before
// A accepts: the server holds the bytes until the data connection is bound
// (RFC 6062 section 5.3; coturn issue 495 reports older coturn dropping
// them).
func TestPeerSendsFirst(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			a := allocate(t, srv.start(t))
			permit(t, a, loopback)
			cb := dialFrom(t, loopback, a.RelayedAddr())
			if _, err := cb.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			ca := accept(t, a)
			_ = ca.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 5)
			if n, err := io.ReadFull(ca, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("A read %q, %v; want the peer's early \"hello\"", buf[:n], err)
			}
		})
	}
}
