package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// requireTAP skips a test that needs root and /dev/net/tun on a developer
// machine, saying why; under CI (CI=true) it fails instead.
func requireTAP(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (creates TAP devices and network namespaces)"
	} else if _, err := os.Stat("/dev/net/tun"); err != nil {
		why = "needs /dev/net/tun: " + err.Error()
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs ip (iproute2) for network namespaces"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// testNS is a named network namespace removed when the test ends.
type testNS struct {
	name   string
	handle netns.NsHandle
}

func newTestNS(t testing.TB) *testNS {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "reachnet-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &testNS{name: name}
	t.Cleanup(func() {
		n.handle.Close()
		exec.Command("ip", "netns", "del", name).Run()
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	n.handle = h
	if nl, err := netlink.NewHandleAt(h); err == nil {
		if lo, err := nl.LinkByName("lo"); err == nil {
			nl.LinkSetUp(lo)
		}
		nl.Close()
	}
	return n
}

// do runs fn on an OS thread in the namespace.
func (n *testNS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.handle); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// bus is an in-memory signaling broker for group topics.
type bus struct {
	mu     sync.Mutex
	subs   map[string]map[*busGroup]bool
	muted  map[string]bool // node IDs whose messages are lost
	hosts  map[string]*fakeHost
	dialed int
}

func newBus() *bus {
	return &bus{subs: map[string]map[*busGroup]bool{}, muted: map[string]bool{}, hosts: map[string]*fakeHost{}}
}

type busGroup struct {
	b     *bus
	topic string
	key   [32]byte
	self  string
	h     func(from, typ string, body []byte)
	wg    *sync.WaitGroup
}

func (g *busGroup) Publish(_ context.Context, typ string, body any) error {
	g.b.mu.Lock()
	defer g.b.mu.Unlock()
	if g.b.muted[g.self] {
		return nil
	}
	raw, err := jsonMarshal(body)
	if err != nil {
		return err
	}
	for o := range g.b.subs[g.topic] {
		if o == g || o.key != g.key {
			continue // a member with another secret cannot open it
		}
		g.wg.Go(func() { o.h(g.self, typ, raw) })
	}
	return nil
}

func (g *busGroup) Leave() {
	g.b.mu.Lock()
	delete(g.b.subs[g.topic], g)
	g.b.mu.Unlock()
}

// fakeHost is a node: it dials over net.Pipe and hands the other side to
// the peer's manager when it expects it.
type fakeHost struct {
	b    *bus
	id   string
	m    *Manager
	wg   sync.WaitGroup
	down bool   // refuses dials; guarded by b.mu
	addr string // its address, when not its ID; guarded by b.mu
}

func (h *fakeHost) ID() string { return h.id }

func (h *fakeHost) Address() string {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	if h.addr != "" {
		return h.addr
	}
	return h.id
}

func (h *fakeHost) JoinGroup(topic string, key [32]byte, fn func(from, typ string, body []byte)) (Group, error) {
	g := &busGroup{b: h.b, topic: topic, key: key, self: h.id, h: fn, wg: &h.wg}
	h.b.mu.Lock()
	if h.b.subs[topic] == nil {
		h.b.subs[topic] = map[*busGroup]bool{}
	}
	h.b.subs[topic][g] = true
	h.b.mu.Unlock()
	return g, nil
}

func (h *fakeHost) Dial(ctx context.Context, addr string) (Link, error) {
	h.b.mu.Lock()
	peer := h.b.hosts[strings.TrimSuffix(addr, "/moved")]
	h.b.dialed++
	id := fmt.Sprintf("c%d", h.b.dialed)
	down := peer == nil || peer.down
	h.b.mu.Unlock()
	if down {
		return nil, errors.New("no route")
	}
	a, b := net.Pipe()
	ours := newPipeLink(a, addr, id)
	theirs := newPipeLink(b, h.id, id)
	if peer.m.Expects(h.id) {
		peer.m.Accept(theirs)
	} else {
		theirs.Close()
	}
	return ours, nil
}

// pipeLink is one end of a net.Pipe as a Link.
type pipeLink struct {
	net.Conn
	peer, id string
	once     sync.Once
	done     chan struct{}
}

func newPipeLink(c net.Conn, peer, id string) *pipeLink {
	return &pipeLink{Conn: c, peer: peer, id: id, done: make(chan struct{})}
}

func (l *pipeLink) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Conn.Close()
}
func (l *pipeLink) Done() <-chan struct{} { return l.done }
func (l *pipeLink) PeerID() string        { return l.peer }
func (l *pipeLink) ID() string            { return l.id }
func (l *pipeLink) Strategy() string      { return "pipe" }
func (l *pipeLink) RemoteAddr() string    { return "pipe" }
