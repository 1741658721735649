package punch_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/punch"
)

// listenLoopback starts a TCP listener on a free loopback port that accepts
// and echoes, and is closed at the end of the test.
func listenLoopback(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// deadPort is a loopback port nobody listens on (it was free a moment ago).
func deadPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return ap
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

func TestDialDirectPicksWorkingCandidate(t *testing.T) {
	live := listenLoopback(t)
	dead1, dead2 := deadPort(t), deadPort(t)
	tests := []struct {
		name  string
		order []netip.AddrPort
	}{
		{"live last", []netip.AddrPort{dead1, dead2, live}},
		{"live first", []netip.AddrPort{live, dead1, dead2}},
		{"live in the middle", []netip.AddrPort{dead1, live, dead2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := punch.DialDirect(t.Context(), tt.order, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.RemoteAddr().String(); got != live.String() {
				t.Errorf("connected to %s, want %s", got, live)
			}
			echo(t, c, "hello")
		})
	}
}

func TestDialDirectReportsEveryFailure(t *testing.T) {
	cands := []netip.AddrPort{deadPort(t), deadPort(t), deadPort(t)}
	c, err := punch.DialDirect(t.Context(), cands, nil)
	if err == nil {
		c.Close()
		t.Fatal("connected to a dead port")
	}
	var de *punch.DialError
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *DialError", err, err)
	}
	if len(de.Attempts) != len(cands) {
		t.Fatalf("%d attempts reported, want %d", len(de.Attempts), len(cands))
	}
	// Users read it as a direct or reverse attempt's reason: no "punch".
	if want := "all 3 addresses failed: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
	for i, a := range de.Attempts {
		if a.Addr != cands[i] {
			t.Errorf("attempt %d is %s, want %s", i, a.Addr, cands[i])
		}
		if !errors.Is(a.Err, syscall.ECONNREFUSED) {
			t.Errorf("attempt %d: %v, want connection refused", i, a.Err)
		}
		if !strings.Contains(err.Error(), cands[i].String()) {
			t.Errorf("error %q does not name %s", err, cands[i])
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false for %v", err)
	}
}

func TestDialDirectNoCandidates(t *testing.T) {
	if _, err := punch.DialDirect(t.Context(), nil, nil); !errors.Is(err, punch.ErrNoCandidates) {
		t.Fatalf("err = %v, want ErrNoCandidates", err)
	}
}

// scriptedDialer dials for real, except that addresses in blackhole hang
// until their context ends, like a peer whose packets are dropped. It
// records the order attempts start in.
type scriptedDialer struct {
	blackhole map[string]bool
	mu        sync.Mutex
	started   []string
}

func (d *scriptedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.started = append(d.started, addr)
	d.mu.Unlock()
	if d.blackhole[addr] {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func TestDialDirectStaggersPastSilentCandidate(t *testing.T) {
	live := listenLoopback(t)
	silent := netip.MustParseAddrPort("192.0.2.1:9") // never dialled for real
	d := &scriptedDialer{blackhole: map[string]bool{silent.String(): true}}
	c, err := punch.DialDirect(t.Context(), []netip.AddrPort{silent, live}, d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != live.String() {
		t.Errorf("connected to %s, want %s", got, live)
	}
	want := []string{silent.String(), live.String()}
	if d.started[0] != want[0] || d.started[1] != want[1] || len(d.started) != 2 {
		t.Errorf("attempt order %v, want %v", d.started, want)
	}
}

func TestDialDirectContextEnds(t *testing.T) {
	silent := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:9"),
		netip.MustParseAddrPort("192.0.2.2:9"),
	}
	d := &scriptedDialer{blackhole: map[string]bool{silent[0].String(): true, silent[1].String(): true}}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := punch.DialDirect(ctx, silent, d)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	var de *punch.DialError
	if !errors.As(err, &de) || len(de.Attempts) != 2 {
		t.Fatalf("err = %v, want a DialError with 2 attempts", err)
	}
	if !strings.Contains(de.Attempts[1].Err.Error(), "not tried") {
		t.Errorf("second candidate: %v, want not tried (the stagger had not passed)", de.Attempts[1].Err)
	}
}

// lateDialer makes slow connect for real but only after the dial was
// cancelled, ignoring the cancellation, like a dial that raced the winner.
type lateDialer struct {
	slow   string
	mu     sync.Mutex
	closed []net.Conn
	late   net.Conn
}

type trackedConn struct {
	net.Conn
	d *lateDialer
}

func (c *trackedConn) Close() error {
	c.d.mu.Lock()
	c.d.closed = append(c.d.closed, c)
	c.d.mu.Unlock()
	return c.Conn.Close()
}

func (d *lateDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr == d.slow {
		<-ctx.Done()
	}
	var nd net.Dialer
	c, err := nd.DialContext(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, d: d}
	if addr == d.slow {
		d.mu.Lock()
		d.late = tc
		d.mu.Unlock()
	}
	return tc, nil
}

func TestDialDirectClosesLateConnections(t *testing.T) {
	a, b := listenLoopback(t), listenLoopback(t)
	d := &lateDialer{slow: a.String()}
	c, err := punch.DialDirect(t.Context(), []netip.AddrPort{a, b}, d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != b.String() {
		t.Fatalf("connected to %s, want %s", got, b)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.late == nil {
		t.Fatal("the late dial never connected")
	}
	if len(d.closed) != 1 || d.closed[0] != d.late {
		t.Errorf("closed %v, want exactly the late connection", d.closed)
	}
}
