//go:build linux

package natlab_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

func TestMain(m *testing.M) {
	// Helpers re-exec this binary; built with -race, each would otherwise
	// sleep a second before exiting.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// TestHelperProcess is not a test: the tests re-exec the test binary inside
// namespaces (Host.Command, Host.Start) with a mode after "--".
func TestHelperProcess(t *testing.T) {
	args := helperArgs()
	if args == nil {
		return
	}
	os.Exit(helperMain(args))
}

func helperArgs() []string {
	for i, a := range os.Args {
		if a == "--" {
			return os.Args[i+1:]
		}
	}
	return nil
}

// helper returns the arguments that run the test binary in helper mode.
func helper(mode ...string) []string {
	return append([]string{"-test.run=^TestHelperProcess$", "--"}, mode...)
}

func helperMain(args []string) int {
	switch {
	case len(args) == 2 && args[0] == "dial":
		// Print what the server at args[1] sends back: the address it saw.
		c, err := net.DialTimeout("tcp", args[1], 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Print(line)
		return 0
	case len(args) == 1 && args[0] == "wait":
		// Run until SIGTERM.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Println("ready")
		<-sig
		fmt.Println("terminated")
		return 0
	}
	fmt.Fprintf(os.Stderr, "bad helper args %q\n", args)
	return 2
}

// listen opens a TCP listener inside h's namespace.
func listen(t *testing.T, h *natlab.Host, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, h.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from h's namespace to remote, from local port lport (0: any)
// with SO_REUSEADDR, so that several connections may share a local port.
func dial(h *natlab.Host, lport uint16, remote netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   timeout,
		LocalAddr: &net.TCPAddr{Port: int(lport)},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			return errors.Join(err, serr)
		},
	}
	var c net.Conn
	err := h.Do(func() (err error) { c, err = d.Dial("tcp4", remote.String()); return err })
	return c, err
}

// accept returns the next connection on ln, failing the test after 5s.
func accept(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept on %s: %v", ln.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrPort(a net.Addr) netip.AddrPort {
	return a.(interface{ AddrPort() netip.AddrPort }).AddrPort()
}

// serveRemoteAddr answers every connection on ln with the remote address it
// saw and a newline, until ln is closed by the test's cleanup.
func serveRemoteAddr(t *testing.T, ln net.Listener) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, c.RemoteAddr())
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

// fwdPort is the port the topology's Forwarded router forwards.
const fwdPort = 4000

// topology is the lab the tests use: one router of each kind with a host
// each (FullCone last), a second host on the Forwarded router, and fwdPort forwarded to the
// Forwarded router's first host.
type topology struct {
	lab        *natlab.Lab
	wan        *natlab.Host
	wan1, wan2 netip.Addr

	pub, fwd, easy, hard, cone             *natlab.Router
	pubH, fwdH, fwdH2, easyH, hardH, coneH *natlab.Host
}

func newTopology(t *testing.T, opts ...natlab.RouterOption) *topology {
	t.Helper()
	tp := &topology{lab: natlab.New(t)}
	tp.wan = tp.lab.WAN()
	tp.wan1, tp.wan2 = tp.lab.WANAddrs()[0], tp.lab.WANAddrs()[1]
	tp.pub = tp.lab.AddRouter(natlab.Public, opts...)
	tp.fwd = tp.lab.AddRouter(natlab.Forwarded, opts...)
	tp.easy = tp.lab.AddRouter(natlab.Easy, opts...)
	tp.hard = tp.lab.AddRouter(natlab.Hard, opts...)
	tp.cone = tp.lab.AddRouter(natlab.FullCone, opts...)
	tp.pubH, tp.fwdH, tp.fwdH2 = tp.pub.AddHost(), tp.fwd.AddHost(), tp.fwd.AddHost()
	tp.easyH, tp.hardH, tp.coneH = tp.easy.AddHost(), tp.hard.AddHost(), tp.cone.AddHost()
	tp.fwd.Forward(tp.fwdH, fwdPort)
	return tp
}

// forEachTopology runs test on a topology with plain links and on one whose
// routers all have a delayed, jittery link: what a router does must not
// depend on how its WAN link is built.
func forEachTopology(t *testing.T, test func(t *testing.T, tp *topology)) {
	t.Run("plain", func(t *testing.T) { test(t, newTopology(t)) })
	t.Run("linked", func(t *testing.T) {
		test(t, newTopology(t, natlab.Link{Delay: time.Millisecond, Jitter: time.Millisecond / 2}))
	})
}

// hostCase is a LAN host and the source address the WAN sees from it.
type hostCase struct {
	name   string
	host   *natlab.Host
	source netip.Addr
}

func (tp *topology) hosts() []hostCase {
	return []hostCase{
		{"public", tp.pubH, tp.pubH.IP()},
		{"forwarded", tp.fwdH, tp.fwd.WANIP()},
		{"forwarded_second", tp.fwdH2, tp.fwd.WANIP()},
		{"easy", tp.easyH, tp.easy.WANIP()},
		{"hard", tp.hardH, tp.hard.WANIP()},
		{"fullcone", tp.coneH, tp.cone.WANIP()},
	}
}

func errOutput(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
	}
}
