// Package turntest starts a coturn TURN server (/usr/bin/turnserver) on
// loopback for tests: TCP only, long-term credentials, loopback peers allowed,
// free ports, stopped by the test's cleanup. It is for tests only.
//
// When turnserver is not installed the test is skipped, unless the
// environment variable CI is "true": then it fails, because CI must run every
// tier.
package turntest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/syncbuf"
)

// The credential and realm every coturn started by StartCoturn accepts.
const (
	User     = "test"
	Password = "secret"
	Realm    = "reachd"
)

// Binary is where coturn's server is looked for.
const Binary = "/usr/bin/turnserver"

// relayPorts is how many relay ports coturn may hand out.
const relayPorts = 32

// Coturn is a running coturn.
type Coturn struct {
	// Addr is the TCP address TURN clients connect to.
	Addr netip.AddrPort
	// RelayPorts is the inclusive range coturn allocates relayed ports from.
	RelayPorts [2]uint16

	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{} // closed when the process has exited
}

// URL returns the server as reachd's --turn flag takes it,
// turn://User:Password@host:port.
func (c *Coturn) URL() string {
	return "turn://" + User + ":" + Password + "@" + c.Addr.String()
}

// Log returns what coturn has logged so far.
func (c *Coturn) Log() string { return c.out.String() }

// StartCoturn starts coturn on 127.0.0.1 and stops it when the test ends.
// extra lines are appended to the generated configuration file (for example
// "permission-lifetime=10"). It fails the test if coturn does not accept TCP
// connections within 10 seconds, and logs coturn's output if the test failed.
func StartCoturn(tb testing.TB, extra ...string) *Coturn {
	tb.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("turntest: coturn is required under CI: %v", err)
		}
		tb.Skipf("turntest: coturn not installed (%v); apt-get install coturn", err)
	}

	dir := tb.TempDir()
	port := freeTCPPort(tb)
	lo, hi := freePortRange(tb, relayPorts)
	conf := []string{
		"listening-ip=127.0.0.1",
		fmt.Sprintf("listening-port=%d", port),
		"relay-ip=127.0.0.1",
		fmt.Sprintf("min-port=%d", lo),
		fmt.Sprintf("max-port=%d", hi),
		"lt-cred-mech",
		"user=" + User + ":" + Password,
		"realm=" + Realm,
		"no-udp", // TCP allocations need a TCP control connection; no UDP port to collide
		"no-tls",
		"no-dtls",
		"allow-loopback-peers", // coturn refuses loopback peers by default
		"no-multicast-peers",
		"no-cli",
		"log-file=stdout",
		"simple-log",
		"pidfile=" + filepath.Join(dir, "turnserver.pid"),
		"userdb=" + filepath.Join(dir, "turndb"), // not the system's /var/lib/turn
	}
	conf = append(conf, extra...)
	confPath := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		tb.Fatalf("turntest: write config: %v", err)
	}

	c := &Coturn{
		Addr:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port),
		RelayPorts: [2]uint16{lo, hi},
		out:        &syncbuf.Buffer{},
		done:       make(chan struct{}),
	}
	c.cmd = exec.Command(Binary, "-c", confPath)
	c.cmd.Dir = dir
	c.cmd.Stdout = c.out
	c.cmd.Stderr = c.out
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("turntest: start coturn: %v", err)
	}
	var waitErr error
	go func() { // owner: the cleanup below waits for done
		waitErr = c.cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if tb.Failed() {
			tb.Logf("turntest: coturn output:\n%s", c.out.String())
		}
	})

	if err := c.waitReady(10 * time.Second); err != nil {
		select {
		case <-c.done:
			err = fmt.Errorf("%w (exit: %v)", err, waitErr)
		default:
		}
		tb.Fatalf("turntest: coturn on %s: %v\n%s", c.Addr, err, c.out.String())
	}
	return c
}

// waitReady polls until coturn accepts TCP connections, the process exits or
// the timeout passes.
func (c *Coturn) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", c.Addr.String())
		if err == nil {
			return conn.Close()
		}
		select {
		case <-c.done:
			return errors.New("exited before accepting connections")
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections: %w", err)
		case <-tick.C:
		}
	}
}

// freeTCPPort returns a port nothing listens on at 127.0.0.1 right now.
func freeTCPPort(tb testing.TB) uint16 {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("turntest: free port: %v", err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// freePortRange returns n consecutive ports, below Linux's default ephemeral
// range, that are free for TCP and UDP on 127.0.0.1 right now.
func freePortRange(tb testing.TB, n int) (lo, hi uint16) {
	tb.Helper()
	for range 50 {
		base := 20000 + rand.IntN(12000-n)
		if rangeFree(base, n) {
			return uint16(base), uint16(base + n - 1)
		}
	}
	tb.Fatalf("turntest: no free range of %d ports", n)
	return 0, 0
}

func rangeFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		_ = ln.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		_ = pc.Close()
	}
	return true
}
