package turn_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/turn"
	"github.com/reachd/reachd/turn/turntest"
)

var (
	loopback  = netip.MustParseAddr("127.0.0.1")
	loopback2 = netip.MustParseAddr("127.0.0.2")
)

// server is a kind of TURN server and how it behaves where servers differ.
type server struct {
	name string
	// start starts a server for a test and returns its URL,
	// turn://user:pass@host:port.
	start func(tb testing.TB) string
	// authCode is the error code of an Allocate with wrong credentials.
	authCode int
	// peerClosed is how A's Read fails after the peer closed.
	peerClosed error
}

var servers = []server{
	{
		name: "rendezvous",
		start: func(tb testing.TB) string {
			return rendezvoustest.TURNURL(rendezvoustest.Start(tb, rendezvoustest.WithLogger(testLogger(tb))))
		},
		authCode:   400, // pion's server
		peerClosed: io.EOF,
	},
	{
		name:       "coturn",
		start:      func(tb testing.TB) string { return turntest.StartCoturn(tb).URL() },
		authCode:   401,
		peerClosed: syscall.ECONNRESET,
	},
}

// testLogger logs to the test at debug level when TURN_DEBUG is set.
func testLogger(tb testing.TB) *slog.Logger {
	if os.Getenv("TURN_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ tb testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func allocateCtx(ctx context.Context, url string) (*turn.Allocation, error) {
	return turn.Allocate(ctx, turn.Config{URL: url})
}

func allocate(tb testing.TB, url string) *turn.Allocation {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := turn.Allocate(ctx, turn.Config{URL: url, Logger: testLogger(tb)})
	if err != nil {
		tb.Fatalf("Allocate: %v", err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	return a
}

func permit(tb testing.TB, a *turn.Allocation, ips ...netip.Addr) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Permit(ctx, ips...); err != nil {
		tb.Fatalf("Permit(%v): %v", ips, err)
	}
}

// dialFrom connects to addr with plain TCP from the local IP from.
func dialFrom(tb testing.TB, from netip.Addr, addr netip.AddrPort) *net.TCPConn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		tb.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

func accept(tb testing.TB, a *turn.Allocation) net.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.Accept(ctx)
	if err != nil {
		tb.Fatalf("Accept: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// connect runs the relay flow: A allocates, permits 127.0.0.1, B dials the
// relayed address, A accepts. It returns A's and B's ends.
func connect(tb testing.TB, url string) (a *turn.Allocation, ca net.Conn, cb *net.TCPConn) {
	tb.Helper()
	a = allocate(tb, url)
	permit(tb, a, loopback)
	cb = dialFrom(tb, loopback, a.RelayedAddr())
	ca = accept(tb, a)
	return a, ca, cb
}

func TestRelay(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			a, ca, cb := connect(t, srv.start(t))

			relayed := a.RelayedAddr()
			if relayed.Addr() != loopback || relayed.Port() == 0 {
				t.Errorf("RelayedAddr = %v, want 127.0.0.1 and a port", relayed)
			}
			if got, want := ca.RemoteAddr().String(), cb.LocalAddr().String(); got != want {
				t.Errorf("accepted RemoteAddr = %s, want the peer's address %s", got, want)
			}
			if got, want := ca.LocalAddr().String(), relayed.String(); got != want {
				t.Errorf("accepted LocalAddr = %s, want the relayed address %s", got, want)
			}
			if got, want := cb.RemoteAddr().String(), relayed.String(); got != want {
				t.Errorf("peer's RemoteAddr = %s, want the relayed address %s", got, want)
			}

			exchange(t, ca, cb, 1<<20)

			// The peer closing reaches A as end of stream.
			if err := cb.Close(); err != nil {
				t.Fatal(err)
			}
			_ = ca.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := ca.Read(make([]byte, 1)); n != 0 || !errors.Is(err, srv.peerClosed) {
				t.Errorf("after the peer closed: Read = %d, %v; want 0, %v", n, err, srv.peerClosed)
			}
		})
	}
}

// exchange sends size random bytes each way at the same time and checks
// that both sides receive exactly what the other sent.
func exchange(tb testing.TB, ca, cb net.Conn, size int) {
	tb.Helper()
	type result struct {
		dir       string
		sent, got [sha256.Size]byte
		err       error
	}
	pipe := func(dir string, seed uint64, w, r net.Conn, out chan<- result) {
		data := make([]byte, size)
		_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(data)
		res := result{dir: dir, sent: sha256.Sum256(data)}
		werr := make(chan error, 1)
		go func() {
			_, err := w.Write(data)
			werr <- err
		}()
		_ = r.SetReadDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		_, rerr := io.CopyN(h, r, int64(size))
		copy(res.got[:], h.Sum(nil))
		res.err = errors.Join(<-werr, rerr)
		out <- res
	}
	out := make(chan result, 2)
	go pipe("A->B", 1, ca, cb, out)
	go pipe("B->A", 2, cb, ca, out)
	for range 2 {
		res := <-out
		if res.err != nil {
			tb.Errorf("%s: %v", res.dir, res.err)
			continue
		}
		if res.got != res.sent {
			tb.Errorf("%s: received sha256 %x, sent %x", res.dir, res.got[:8], res.sent[:8])
		}
	}
}

func TestPeerWithoutPermission(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			a := allocate(t, srv.start(t))
			permit(t, a, loopback2)

			// From 127.0.0.1, which has no permission: the server closes
			// the TCP connection on the relayed port without a byte.
			if err := refusedPeer(loopback, a.RelayedAddr()); err != nil {
				t.Fatal(err)
			}

			// It was not announced: Accept has nothing to return...
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if c, err := a.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Accept after a refused peer = %v, %v; want context.DeadlineExceeded", c, err)
			}

			// ...and the next Accept returns the permitted peer.
			allowed := dialFrom(t, loopback2, a.RelayedAddr())
			c := accept(t, a)
			if got, want := c.RemoteAddr().String(), allowed.LocalAddr().String(); got != want {
				t.Fatalf("accepted %s, want the permitted peer %s", got, want)
			}
			exchange(t, c, allowed, 4096)
		})
	}
}

// refusedPeer dials addr from the local IP from and checks that the server
// ends the connection without sending a byte: pion's server accepts it and
// closes it (the peer reads EOF); coturn resets it, during the handshake or
// right after.
func refusedPeer(from netip.Addr, addr netip.AddrPort) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return nil // coturn, most of the time
		}
		return fmt.Errorf("peer without permission: dial: %w, want success or connection reset", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !(err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
		return fmt.Errorf("peer without permission: Read = %d, %v; want 0 and EOF or connection reset", n, err)
	}
	return nil
}

func TestWrongCredentials(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			good, err := turn.ParseURL(srv.start(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ name, user, pass string }{
				{"wrong password", good.Username, "not-the-password"},
				{"unknown user", "nobody", good.Password},
			} {
				t.Run(tc.name, func(t *testing.T) {
					url := "turn://" + tc.user + ":" + tc.pass + "@" + good.Addr()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					a, err := turn.Allocate(ctx, turn.Config{URL: url})
					if err == nil {
						_ = a.Close()
						t.Fatal("Allocate with wrong credentials succeeded")
					}
					if !errors.Is(err, turn.ErrUnauthorized) {
						t.Errorf("error %q does not match ErrUnauthorized", err)
					}
					var se *turn.ServerError
					if !errors.As(err, &se) || se.Code != srv.authCode || se.Op != "allocate" {
						t.Errorf("error %q: want a *ServerError for allocate with code %d, got %#v", err, srv.authCode, se)
					}
					if !strings.Contains(err.Error(), "credentials refused") {
						t.Errorf("error %q does not say the credentials were refused", err)
					}
					if strings.Contains(err.Error(), tc.pass) {
						t.Errorf("error %q contains the password", err)
					}
					t.Logf("error: %v", err)
				})
			}
		})
	}
}

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

func TestPermitRejectsBadAddresses(t *testing.T) {
	a := allocate(t, servers[0].start(t))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		ips  []netip.Addr
		want string
	}{
		{"none", nil, "no addresses"},
		{"invalid", []netip.Addr{{}}, "invalid address"},
		{"other family", []netip.Addr{netip.MustParseAddr("::1")}, "address family differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Permit(ctx, tc.ips...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Permit(%v) = %v, want an error containing %q", tc.ips, err, tc.want)
			}
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
// servers do once the allocation is deleted.
func waitReleased(tb testing.TB, relayed netip.AddrPort) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", relayed.String(), time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				tb.Fatalf("dial the released relayed address: %v, want connection refused", err)
			}
			return
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			tb.Fatalf("relayed address %s still accepts connections after release", relayed)
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

// TestPermitAfterStaleNonce lets coturn's nonce expire (stale-nonce=1s):
// CreatePermission is answered 438 Stale Nonce, pion takes the new nonce and
// Permit retries.
func TestPermitAfterStaleNonce(t *testing.T) {
	t.Parallel() // waits for the server's clock
	a := allocate(t, turntest.StartCoturn(t, "stale-nonce=1").URL())
	time.Sleep(2500 * time.Millisecond) // not synchronisation: the server's nonce must age
	permit(t, a, loopback)
	cb := dialFrom(t, loopback, a.RelayedAddr())
	ca := accept(t, a)
	exchange(t, ca, cb, 4096)
}

// TestAcceptedConnOutlivesPermission lets coturn's permission expire
// (permission-lifetime=1s): the accepted connection keeps working, and only
// new peer connections are refused.
func TestAcceptedConnOutlivesPermission(t *testing.T) {
	t.Parallel() // waits for the server's clock
	a, ca, cb := connect(t, turntest.StartCoturn(t, "permission-lifetime=1").URL())
	time.Sleep(2500 * time.Millisecond) // not synchronisation: the permission must expire
	exchange(t, ca, cb, 64<<10)
	if err := refusedPeer(loopback, a.RelayedAddr()); err != nil {
		t.Fatalf("after the permission expired: %v", err)
	}
}
