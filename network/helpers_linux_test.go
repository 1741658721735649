package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/tap/taptest"
)

func requireTAP(t testing.TB) { taptest.RequireTAP(t) }

// testNS is a test's network namespace.
type testNS struct {
	*taptest.NS
	name string
}

func newTestNS(t testing.TB) *testNS {
	n := taptest.NewNS(t, "reachnet")
	return &testNS{NS: n, name: n.Name}
}

func (n *testNS) do(fn func() error) error { return n.Do(fn) }

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
	h     func(m *signaling.Message)
	wg    *sync.WaitGroup
}

func (g *busGroup) Publish(_ context.Context, k signaling.Kind, body any) error {
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
		g.wg.Go(func() { o.h(&signaling.Message{From: g.self, Type: k.Name(), Body: raw}) })
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

func (h *fakeHost) JoinGroup(topic string, key [32]byte, fn func(m *signaling.Message)) (Group, error) {
	g := &busGroup{b: h.b, topic: topic, key: key, self: h.id, h: fn, wg: &h.wg}
	h.b.mu.Lock()
	if h.b.subs[topic] == nil {
		h.b.subs[topic] = map[*busGroup]bool{}
	}
	h.b.subs[topic][g] = true
	h.b.mu.Unlock()
	return g, nil
}

// Dialable takes a member's own address (its ID, or its ID and "/moved")
// and refuses any other, as the node refuses another node's address.
func (h *fakeHost) Dialable(member, addr string) (string, error) {
	if strings.TrimSuffix(addr, "/moved") != member {
		return "", fmt.Errorf("address %q is not %s's", addr, member)
	}
	return addr, nil
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
