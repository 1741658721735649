package node

import (
	"slices"
	"sync"
)

// keepClosed is how many closed connections stay listed after they close,
// oldest dropped first, so their final state and counters can be read.
const keepClosed = 256

// registry holds the node's connections, open and recently closed.
type registry struct {
	mu     sync.Mutex
	conns  map[string]*Conn
	closed []string // IDs of closed connections, oldest first
}

func newRegistry() *registry { return &registry{conns: make(map[string]*Conn)} }

func (r *registry) add(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns[c.id] = c
}

// closedConn records that c closed, dropping the oldest closed ones beyond
// keepClosed.
func (r *registry) closedConn(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c.id]; !ok {
		return
	}
	r.closed = append(r.closed, c.id)
	for len(r.closed) > keepClosed {
		if old := r.conns[r.closed[0]]; old != nil {
			old.s.Discard()
		}
		delete(r.conns, r.closed[0])
		r.closed = r.closed[1:]
	}
}

func (r *registry) get(id string) (*Conn, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.conns[id]
	return c, ok
}

// list returns every connection, oldest first.
func (r *registry) list() []*Conn {
	r.mu.Lock()
	out := make([]*Conn, 0, len(r.conns))
	for _, c := range r.conns {
		out = append(out, c)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b *Conn) int { return a.opened.Compare(b.opened) })
	return out
}

// open returns the connections that are not closed.
func (r *registry) open() []*Conn {
	var out []*Conn
	for _, c := range r.list() {
		if c.State() != StateClosed {
			out = append(out, c)
		}
	}
	return out
}

// inbound counts the open inbound connections, in all and from peer.
func (r *registry) inbound(peer string) (total, fromPeer int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		if c.dir != Inbound || c.State() == StateClosed {
			continue
		}
		total++
		if c.peer == peer {
			fromPeer++
		}
	}
	return total, fromPeer
}
