package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/server"
)

// pair is two live nodes on loopback, each with its API (host:port).
type pair struct {
	a, b       *node.Node
	apiA, apiB string
}

// startPair starts a rendezvous and two nodes with their APIs; token, if
// set, protects both APIs.
func startPair(t *testing.T, token string) pair {
	t.Helper()
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	return pair{a: a, b: b, apiA: startAPI(t, a, token), apiB: startAPI(t, b, token)}
}

func startAPI(t *testing.T, n *node.Node, token string) string {
	t.Helper()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Node: n, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr()
}

// closedAddr is a loopback host:port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// forged is addr with every interface's listen port set to port and, if
// newID, a fresh node ID: a peer nobody answers for.
func forged(t *testing.T, addr string, port uint16, newID bool) string {
	t.Helper()
	a, err := address.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.IPv4 {
		a.IPv4[i].ListenPort = port
	}
	for i := range a.IPv6 {
		a.IPv6[i].ListenPort = port
	}
	if newID {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		a.NodeID = identity.NodeIDFromKey(pub)
	}
	return a.String()
}

// fakeAddress is a well-formed address of a node that does not exist,
// listening on port 1 of 127.0.0.1.
func fakeAddress(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	a := address.Address{
		SignalOffsets: []int{0},
		IPv4: []address.Interface{{NetIfIndex: 1, ExternalIP: lo, InternalIP: lo, ListenPort: 1,
			NAT: address.NATOpen, Delta: address.DeltaEqual}},
		NodeID:    identity.NodeIDFromKey(pub),
		MachineID: "0123456789abcdef",
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// reachd runs a command in-process to its end.
func reachd(t *testing.T, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startReachd(t, stdin, args...)
	code = p.wait(t)
	return code, p.stdout.String(), p.stderr.String()
}

// proc is a command running in-process.
type proc struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc // as a signal would
	done           chan struct{}
	code           int
}

// startReachd runs a command in-process in the background; cleanup
// interrupts it and waits for it.
func startReachd(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{stdout: newSyncBuffer(), stderr: newSyncBuffer(), cancel: cancel, done: make(chan struct{})}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	go func() {
		defer close(p.done)
		p.code = run(ctx, args, stdin, p.stdout, p.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for the command's end and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(60 * time.Second):
		t.Fatalf("command still running after 60s; stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		return -1
	}
}

// exited reports whether the command has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// syncBuffer is an output that tests can wait on.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed at the next write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output contains want and returns the output.
func (s *syncBuffer) waitFor(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		out, changed := s.b.String(), s.changed
		s.mu.Unlock()
		if strings.Contains(out, want) {
			return out
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("output does not show %q after 30s:\n%s", want, out)
		}
	}
}

// waitAny waits for the first output, false if stop closes first.
func (s *syncBuffer) waitAny(stop <-chan struct{}) bool {
	s.mu.Lock()
	n, changed := s.b.Len(), s.changed
	s.mu.Unlock()
	if n > 0 {
		return true
	}
	select {
	case <-changed:
		return true
	case <-stop:
		return false
	}
}

// stdinPipe is a stdin the test writes to and closes.
func stdinPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// lines splits output into its lines.
func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
