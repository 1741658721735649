package punch_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reachd/reachd/punch"
)

// TCP states as /proc/net/tcp shows them.
const (
	tcpEstablished = 0x01
	tcpSynSent     = 0x02
	tcpSynRecv     = 0x03
)

// TestPunchAbandonedAttemptFreesPort makes a dial attempt that is half
// way through a simultaneous open when Punch abandons it, as on a long
// path: our SYN went unanswered, the peer's SYN arrived (SYN-SENT ->
// SYN-RECV), and our SYN-ACK is lost. The abandoned socket must not keep
// the 4-tuple (in FIN-WAIT-1, say, while its FIN goes unanswered): no later
// dial from the same port may fail with EADDRNOTAVAIL ("cannot assign
// requested address"), and once the peer answers, Punch connects.
//
// The peer's end is played by sockets with a socket filter that drops
// every packet they would receive, so nothing is answered and nothing is
// reset, without root or packet filters; the peer answers when its filter
// is taken off.
func TestPunchAbandonedAttemptFreesPort(t *testing.T) {
	base := fdBaseline(t)
	local, remote := deadPort(t), deadPort(t)
	// A deaf listener on the peer's port: our first SYN vanishes.
	deaf := listenWith(t, remote, deafControl)

	dials := &dialLog{}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan punchResult, 1)
	go func() {
		c, err := punch.Punch(ctx, punch.Config{
			LocalAddr: local, Remote: remote, NoListen: true,
			AttemptTimeout: 300 * time.Millisecond, Window: 5 * time.Second,
			Logger: slog.New(dials),
		})
		done <- punchResult{c, err}
	}()
	waitTCPState(t, local, remote, func(st int) bool { return st == tcpSynSent }, "our first attempt is SYN-SENT")

	// The peer's SYN, from a deaf socket on its port, turns our pending
	// connect into SYN-RECV; our SYN-ACK to it vanishes, and so does all
	// else we send it while it is deaf.
	peer := deafDial(t, remote, local)
	waitTCPState(t, local, remote, func(st int) bool { return st == tcpSynRecv }, "our attempt is SYN-RECV (half a simultaneous open)")
	// Punch gives it up after twice AttemptTimeout (it heard the peer);
	// wait until the dial after it failed too (the first dial was the
	// one given up).
	waitTCPState(t, local, remote, func(st int) bool { return st != tcpSynRecv }, "the attempt is abandoned")
	for deadline := time.Now().Add(5 * time.Second); dials.count() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("no dial after the abandoned one: %d dials failed", dials.count())
		}
		time.Sleep(time.Millisecond) // polling the log, not guessing a delay
	}

	// Now the peer hears us: our next SYN meets its pending connect.
	deaf.Close()
	if err := unix.SetsockoptInt(peer, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0); err != nil {
		t.Fatal(err)
	}
	r := <-done
	for _, err := range dials.errs() {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("the abandoned attempt blocked a later dial from its port: %v", err)
			break
		}
	}
	if r.err != nil {
		t.Fatalf("punch failed after an abandoned attempt: %v", r.err)
	}
	checkEnds(t, r.conn, local, remote)
	waitTCPState(t, remote, local, func(st int) bool { return st == tcpEstablished }, "the peer's end is established")
	f := os.NewFile(uintptr(peer), "peer")
	pc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		r.conn.Close()
		t.Fatal(err)
	}
	exchange(t, r.conn, pc, "after an abandoned attempt")
	closeAll(r.conn, pc)
	if n := openFDs(t); n != base {
		t.Errorf("%d descriptors open after the punch, want %d", n, base)
	}
}

// TestPunchKeepsAttemptThatHeardPeer makes a dial attempt that is half way
// through a simultaneous open (SYN-RECV) when its AttemptTimeout passes,
// as when the first packets between two hosts are slow: Punch keeps it
// instead of throwing the handshake away, and it connects once the peer's
// answer gets through (here: the peer's or our SYN-ACK retransmission,
// about 3s after our SYN).
func TestPunchKeepsAttemptThatHeardPeer(t *testing.T) {
	const attempt = 2 * time.Second
	local, remote := deadPort(t), deadPort(t)
	deaf := listenWith(t, remote, deafControl)
	dials := &dialLog{}
	done := make(chan punchResult, 1)
	go func() {
		c, err := punch.Punch(t.Context(), punch.Config{
			LocalAddr: local, Remote: remote, NoListen: true,
			AttemptTimeout: attempt, Window: 10 * time.Second,
			Logger: slog.New(dials),
		})
		done <- punchResult{c, err}
	}()
	waitTCPState(t, local, remote, func(st int) bool { return st == tcpSynSent }, "our first attempt is SYN-SENT")
	began := time.Now() // the attempt began before this
	peer := deafDial(t, remote, local)
	waitTCPState(t, local, remote, func(st int) bool { return st == tcpSynRecv }, "our attempt is SYN-RECV (half a simultaneous open)")

	// Past the attempt's timeout (with a margin for a busy machine's
	// timers), it is still there.
	time.Sleep(time.Until(began.Add(attempt + 300*time.Millisecond)))
	if n := dials.count(); n != 0 {
		t.Fatalf("%d dials failed; the attempt that heard the peer was given up at its timeout: %v", n, dials.errs())
	}
	if st := tcpState(t, local, remote); st != tcpSynRecv {
		t.Fatalf("socket in state %#x past the attempt's timeout, want it kept in SYN-RECV", st)
	}

	deaf.Close()
	if err := unix.SetsockoptInt(peer, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("punch failed: %v (dials failed: %v)", r.err, dials.errs())
	}
	defer r.conn.Close()
	if n := dials.count(); n != 0 {
		t.Errorf("%d dials failed before the first one connected: %v", n, dials.errs())
	}
	checkEnds(t, r.conn, local, remote)
}

// dialLog is a slog handler that keeps the errors of Punch's failed dials.
type dialLog struct {
	mu   sync.Mutex
	list []error
}

func (l *dialLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *dialLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *dialLog) WithGroup(string) slog.Handler            { return l }

func (l *dialLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "punch dial failed" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			l.mu.Lock()
			l.list = append(l.list, err)
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *dialLog) errs() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

func (l *dialLog) count() int { return len(l.errs()) }

// deafDial starts a non-blocking connect from local to remote on a deaf
// socket sharing local's port (see deafControl) and returns its
// descriptor, closed at the end of the test unless taken over.
func deafDial(t *testing.T, local, remote netip.AddrPort) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			unix.Close(fd)
		}
	})
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, dropAll()); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(local.Port()), Addr: local.Addr().As4()}); err != nil {
		t.Fatal(err)
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(remote.Port()), Addr: remote.Addr().As4()})
	if !errors.Is(err, unix.EINPROGRESS) {
		t.Fatalf("deaf connect: %v, want it in progress", err)
	}
	return fd
}

// dropAll is a socket filter that drops every packet.
func dropAll() *unix.SockFprog {
	drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	return &unix.SockFprog{Len: uint16(len(drop)), Filter: &drop[0]}
}

// listenWith listens on addr with control; the listener is closed at the
// end of the test.
func listenWith(t *testing.T, addr netip.AddrPort, control func(string, string, syscall.RawConn) error) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: control}
	ln, err := lc.Listen(t.Context(), "tcp4", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// deafControl shares the port like Punch's sockets and attaches a socket
// filter that drops every packet the socket would receive, silently (no
// reset).
func deafControl(network, address string, c syscall.RawConn) error {
	if err := punch.ReuseControl(network, address, c); err != nil {
		return err
	}
	var opErr error
	err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, dropAll())
	})
	return errors.Join(err, opErr)
}

// waitTCPState polls /proc/net/tcp until the socket from local to remote is
// in a state ok accepts (-1: no such socket).
func waitTCPState(t *testing.T, local, remote netip.AddrPort, ok func(state int) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := tcpState(t, local, remote)
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting until %s: socket %s -> %s still in state %#x", what, local, remote, st)
		}
		time.Sleep(time.Millisecond) // polling the kernel's table, not guessing a delay
	}
}

// tcpState is the state of the IPv4 socket from local to remote in
// /proc/net/tcp, or -1 when there is none.
func tcpState(t *testing.T, local, remote netip.AddrPort) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := [2]string{procAddr(local), procAddr(remote)}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[1] != want[0] || fields[2] != want[1] {
			continue
		}
		b, err := hex.DecodeString(fields[3])
		if err != nil || len(b) != 1 {
			t.Fatalf("/proc/net/tcp: bad state %q", fields[3])
		}
		return int(b[0])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return -1
}

// procAddr is ap as /proc/net/tcp writes it on a little-endian machine:
// the IPv4 address as a 32-bit word in host order, in hex, a colon, the
// port in hex.
func procAddr(ap netip.AddrPort) string {
	ip := ap.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
}
