package punch_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/punch"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// fdBaseline warms up the runtime's network poller (which keeps its own
// descriptors) and returns the descriptor count to compare against.
func fdBaseline(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return openFDs(t)
}

type punchResult struct {
	conn net.Conn
	err  error
}

// punchPair runs two Punch calls concurrently and returns both outcomes.
func punchPair(ctx context.Context, a, b punch.Config) (ra, rb punchResult) {
	var wg sync.WaitGroup
	wg.Go(func() { ra.conn, ra.err = punch.Punch(ctx, a) })
	wg.Go(func() { rb.conn, rb.err = punch.Punch(ctx, b) })
	wg.Wait()
	return ra, rb
}

func TestPunchLoopback(t *testing.T) {
	tests := []struct {
		name      string
		noListenA bool
		noListenB bool
		lateB     time.Duration // B's clock is this much behind
	}{
		{name: "both listen"},
		{name: "one side does not listen", noListenB: true},
		{name: "clocks 200ms apart", lateB: 200 * time.Millisecond},
		// A's dials are refused until B starts dialing into A's listener.
		{name: "late side does not listen", noListenB: true, lateB: 200 * time.Millisecond},
		// A's first dial reaches B's listener before B's meeting time.
		{name: "early side does not listen", noListenA: true, lateB: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := fdBaseline(t)
			pa, pb := deadPort(t), deadPort(t)
			at := time.Now().Add(100 * time.Millisecond)
			ca := punch.Config{LocalAddr: pa, Remote: pb, At: at, NoListen: tt.noListenA}
			cb := punch.Config{LocalAddr: pb, Remote: pa, At: at, NoListen: tt.noListenB,
				Now: func() time.Time { return time.Now().Add(-tt.lateB) }}
			ra, rb := punchPair(t.Context(), ca, cb)
			if ra.err != nil || rb.err != nil {
				closeAll(ra.conn, rb.conn)
				t.Fatalf("punch failed: A: %v; B: %v", ra.err, rb.err)
			}
			if n := socketsOn(t, pa.Port(), pb.Port()); n != 2 {
				t.Errorf("%d sockets on the two punch ports with both connections up, want 2 (one each)", n)
			}
			checkEnds(t, ra.conn, pa, pb)
			checkEnds(t, rb.conn, pb, pa)
			exchange(t, ra.conn, rb.conn, "from A")
			exchange(t, rb.conn, ra.conn, "from B")
			closeAll(ra.conn, rb.conn)
			if n := openFDs(t); n > base {
				t.Errorf("%d descriptors open after closing, want %d", n, base)
			}
		})
	}
}

func closeAll(cs ...net.Conn) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

func checkEnds(t *testing.T, c net.Conn, local, remote netip.AddrPort) {
	t.Helper()
	if got := c.LocalAddr().String(); got != local.String() {
		t.Errorf("local address %s, want the configured %s", got, local)
	}
	if got := c.RemoteAddr().String(); got != remote.String() {
		t.Errorf("remote address %s, want %s", got, remote)
	}
}

func exchange(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	to.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(from, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(to, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Errorf("received %q, want %q", buf, msg)
	}
}

func TestPunchWindowCloses(t *testing.T) {
	for _, noListen := range []bool{false, true} {
		name := "with listener"
		if noListen {
			name = "without listener"
		}
		t.Run(name, func(t *testing.T) {
			base := fdBaseline(t)
			local, nobody := deadPort(t), deadPort(t)
			c, err := punch.Punch(t.Context(), punch.Config{
				LocalAddr: local, Remote: nobody, Window: 300 * time.Millisecond, NoListen: noListen,
			})
			if err == nil {
				c.Close()
				t.Fatal("punch to a port nobody punches from succeeded")
			}
			if !errors.Is(err, punch.ErrWindowClosed) {
				t.Errorf("err = %v, want ErrWindowClosed", err)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("err = %v, want the last dial's connection refused", err)
			}
			for _, want := range []string{local.String(), nobody.String(), "dials"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if n := openFDs(t); n > base {
				t.Errorf("%d descriptors open after the punch failed, want at most %d", n, base)
			}
		})
	}
}

func TestPunchMeetingTimeLongPast(t *testing.T) {
	// The peer listens, so a dial would succeed: Punch must not dial.
	peer := listenLoopback(t)
	shared := time.Now().Add(-time.Hour) // the shared clock is an hour behind ours
	start := time.Now()
	c, err := punch.Punch(t.Context(), punch.Config{
		LocalAddr: deadPort(t), Remote: peer,
		At:  shared.Add(-10 * time.Second),
		Now: func() time.Time { return shared },
	})
	if err == nil {
		c.Close()
		t.Fatal("punch after its window succeeded")
	}
	if !errors.Is(err, punch.ErrWindowClosed) {
		t.Errorf("err = %v, want ErrWindowClosed", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s; a window closed long ago should fail at once", d)
	}
}

func TestPunchWaitsForMeetingTime(t *testing.T) {
	peer := listenLoopback(t)
	// The shared clock runs an hour behind ours; meet 200ms from now on it.
	// Were Now ignored, At would lie an hour in the past and Punch would fail.
	shared := func() time.Time { return time.Now().Add(-time.Hour) }
	start := time.Now()
	c, err := punch.Punch(t.Context(), punch.Config{
		LocalAddr: deadPort(t), Remote: peer,
		At:  shared().Add(200 * time.Millisecond),
		Now: shared,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Timers never fire early, so this lower bound cannot flake.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("connected after %s, before the meeting time (200ms)", d)
	}
	echo(t, c, "plain connect")
}

func TestPunchContextCancelled(t *testing.T) {
	base := fdBaseline(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := punch.Punch(ctx, punch.Config{LocalAddr: deadPort(t), Remote: deadPort(t), Window: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if errors.Is(err, punch.ErrWindowClosed) {
		t.Errorf("err = %v: the window did not close, the context ended", err)
	}
	if n := openFDs(t); n > base {
		t.Errorf("%d descriptors open after cancel, want %d", n, base)
	}
}

func TestPunchRefusesStrangers(t *testing.T) {
	base := fdBaseline(t)
	local := deadPort(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		// The peer is on 127.0.0.1 and never answers.
		c, err := punch.Punch(ctx, punch.Config{LocalAddr: local, Remote: deadPort(t), Window: time.Minute})
		if c != nil {
			c.Close()
		}
		done <- err
	}()

	// Connect from another IP once Punch's listener is up; the kernel
	// completes the handshake, and Punch must hang up on us.
	stranger := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var c net.Conn
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if c, err = stranger.DialContext(t.Context(), "tcp4", local.String()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("punch listener never came up: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // polling for the listener, not a synchronisation guess
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	c.Close()
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("stranger read %d bytes, err %v; want the connection closed by punch", n, err)
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("punch err = %v, want cancelled", err)
	}
	if n := openFDs(t); n > base {
		t.Errorf("%d descriptors open after punch ended, want at most %d", n, base)
	}
}

func TestPunchConfigErrors(t *testing.T) {
	t.Parallel()
	v4 := netip.MustParseAddrPort("127.0.0.1:40000")
	v6 := netip.MustParseAddrPort("[::1]:40001")
	tests := []struct {
		name string
		cfg  punch.Config
		want string
	}{
		{"no local", punch.Config{Remote: v4}, "local address"},
		{"local port zero", punch.Config{LocalAddr: netip.MustParseAddrPort("127.0.0.1:0"), Remote: v4}, "local address"},
		{"no remote", punch.Config{LocalAddr: v4}, "remote address"},
		{"unspecified remote", punch.Config{LocalAddr: v4, Remote: netip.MustParseAddrPort("0.0.0.0:1")}, "remote address"},
		{"family mismatch", punch.Config{LocalAddr: v4, Remote: v6}, "different IP families"},
		{"negative window", punch.Config{LocalAddr: v4, Remote: v4, Window: -time.Second}, "negative"},
		{"negative rtt", punch.Config{LocalAddr: v4, Remote: v4, RTT: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := punch.Punch(t.Context(), tt.cfg)
			if err == nil {
				c.Close()
				t.Fatal("invalid config accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
