package peerlink

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/session"
)

// Link is the node's session link with one peer.
type Link struct {
	t    *Table
	peer string
	link *session.Link

	mu         sync.Mutex
	addr       address.Address // the peer's address as last learnt; zero NodeID when unknown
	strategies []string        // the strategies its connects allow, in their order
	metas      map[io.ReadWriteCloser]*pathMeta
	cur        *pathMeta
	ended      []Path // ended paths, oldest first
	conns      map[*session.Stream]Conn
	recovering bool
	upgrading  bool
	losses     int // paths lost so far: a connection's grace timer belongs to one loss
	// dialled: we made a path to the peer, or a connect of ours named its
	// address; only then do we dial its address to resume.
	dialled bool
	// idleAt is when the link last carried no connection; idleGen counts
	// the idle spells, so a timer of an earlier one does nothing.
	idleAt  time.Time
	idleGen int
}

// Peer is the peer's node ID.
func (l *Link) Peer() string { return l.peer }

// Learn records the peer's address and the strategies a connect allows
// (nil: keep those known).
func (l *Link) Learn(addr address.Address, strategies []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addr = addr
	l.dialled = true
	if strategies != nil {
		l.strategies = strategies
	}
}

// Heard records the address the peer told us it moved to, without
// making us a side that dials it (see Learn): a peer that only ever
// dialled us resumes the link itself.
func (l *Link) Heard(addr address.Address) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addr = addr
}

// Attach gives the link a secured path (the TLS connection of a
// node/internal/handshake path) made by strategy name; dir says which
// side initiated it.
func (l *Link) Attach(ctx context.Context, path net.Conn, name string, dir Direction) error {
	meta := &pathMeta{Path: Path{Strategy: name, LocalAddr: path.LocalAddr().String(), RemoteAddr: path.RemoteAddr().String()}, dir: dir, conn: path}
	l.mu.Lock()
	l.metas[path] = meta
	l.dialled = l.dialled || dir == Outbound
	l.mu.Unlock()
	err := l.link.Attach(ctx, path)
	if err != nil {
		l.mu.Lock()
		delete(l.metas, path)
		l.mu.Unlock()
	}
	return err
}

// Open opens a stream to the peer with header h (the service it is for
// and how its bytes are meant), lengthening the link's grace to grace.
func (l *Link) Open(ctx context.Context, h session.Header, grace time.Duration) (*session.Stream, error) {
	l.link.ExtendGrace(grace)
	s, err := l.link.Open(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("open a stream to %s: %w", l.peer, err)
	}
	return s, nil
}

// Grace is how long the link waits for a new path after its path died.
func (l *Link) Grace() time.Duration { return l.link.Grace() }

// ExtendGrace lengthens the link's grace to d (never shortens it).
func (l *Link) ExtendGrace(d time.Duration) { l.link.ExtendGrace(d) }

// Add lists c as the connection of stream s.
func (l *Link) Add(s *session.Stream, c Conn) {
	l.mu.Lock()
	l.conns[s] = c
	l.idleGen++ // not idle
	l.mu.Unlock()
}

// Remove forgets the connection of stream s.
func (l *Link) Remove(s *session.Stream) {
	l.mu.Lock()
	delete(l.conns, s)
	n := len(l.conns)
	gen := l.idleGen
	l.mu.Unlock()
	if n == 0 {
		l.idle(gen)
	}
}

// idle starts an idle spell (the link carries no connection): after
// IdleAfter without one, the link closes. gen is the idle count seen
// when the last connection went.
func (l *Link) idle(gen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idleGen != gen || len(l.conns) > 0 {
		return
	}
	l.idleGen++
	gen = l.idleGen
	l.idleAt = time.Now()
	if l.t.cfg.IdleAfter <= 0 {
		return
	}
	time.AfterFunc(l.t.cfg.IdleAfter, func() {
		l.mu.Lock()
		still := l.idleGen == gen && len(l.conns) == 0
		l.mu.Unlock()
		if still {
			l.t.log.Info("idle peer link closed", "peer", l.peer, "after", l.t.cfg.IdleAfter)
			l.link.Close()
		}
	})
}

// idleSince is when the link's idle spell began; false while it carries
// a connection.
func (l *Link) idleSince() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idleAt, len(l.conns) == 0
}

// InUse reports whether the link carries a connection, or we once dialled
// the peer (or named its address): a link a stranger only dialled in and
// left idle is neither.
func (l *Link) InUse() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dialled || len(l.conns) > 0
}

func (l *Link) connList() []Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Collect(maps.Values(l.conns))
}

// onEvent follows the link's path. It runs under the session link's lock:
// it records the change and leaves the rest (reporting, resuming,
// upgrading) to a goroutine.
func (l *Link) onEvent(ev session.Event) {
	l.mu.Lock()
	var meta *pathMeta
	switch ev.Kind {
	case session.EventAttached, session.EventResumed, session.EventUpgraded:
		meta = l.metas[ev.Path]
		if meta == nil { // not ours: cannot happen, but never lose track
			meta = &pathMeta{Path: Path{Strategy: "unknown"}}
		}
		delete(l.metas, ev.Path)
		if l.cur != nil {
			l.endPath(ev.Time, "moved to a "+meta.Strategy+" path")
		}
		meta.Since = ev.Time
		l.cur = meta
	case session.EventLost, session.EventFailed:
		if ev.Kind == session.EventLost {
			l.losses++
		}
		if l.cur != nil {
			meta = l.cur
			l.endPath(ev.Time, ev.Reason)
		}
	}
	l.mu.Unlock()
	l.t.goOwned(func() { l.pathChanged(ev, meta) })
}

// pathChanged reports a change of the link's path and acts on it: a lost
// path starts a resume, a new path one the side that made it may upgrade.
func (l *Link) pathChanged(ev session.Event, meta *pathMeta) {
	var p Path
	if meta != nil {
		p = meta.Path
	}
	l.t.cfg.Host.PathChanged(l, ev, p)
	for _, c := range l.connList() {
		c.PathChanged()
	}
	switch ev.Kind {
	case session.EventLost:
		l.graceTimers()
		dir := Inbound
		if meta != nil {
			dir = meta.dir
		}
		l.resume(dir)
	case session.EventAttached, session.EventResumed, session.EventUpgraded:
		if meta != nil && meta.dir == Outbound {
			l.upgrade()
		}
	case session.EventFailed:
		l.t.drop(l)
	}
}

// graceTimers aborts, after the path just lost, each connection whose
// grace is shorter than the link's once its grace has passed without a
// new path.
func (l *Link) graceTimers() {
	l.mu.Lock()
	loss := l.losses
	l.mu.Unlock()
	linkGrace := l.link.Grace()
	for _, c := range l.connList() {
		grace := c.Grace()
		if grace <= 0 || grace >= linkGrace {
			continue
		}
		time.AfterFunc(grace, func() {
			l.mu.Lock()
			waiting := l.losses == loss && l.cur == nil
			l.mu.Unlock()
			if waiting {
				c.Abort(fmt.Sprintf("no path to the peer within the connection's grace period (%v)", grace))
			}
		})
	}
}

// streamChanged follows a stream's ends into its connection.
func (l *Link) streamChanged(s *session.Stream) {
	l.mu.Lock()
	c := l.conns[s]
	l.mu.Unlock()
	if c != nil {
		c.StreamChanged()
	}
}

// acceptLoop gives the host the streams the peer opens.
func (l *Link) acceptLoop() {
	defer l.t.drop(l)
	for {
		s, err := l.link.Accept(l.t.ctx)
		if err != nil {
			return
		}
		l.t.cfg.Host.Accept(l, s)
	}
}

// Close closes the link, telling the peer.
func (l *Link) Close() error { return l.link.Close() }

// Address is the peer's address as last learnt; its NodeID is empty when
// none is known.
func (l *Link) Address() address.Address {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}
