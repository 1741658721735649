// Package peerlink is the stage of reachd's connection pipeline that
// keeps one session link per peer (package session): every connection to
// that peer is a stream on it, and it rides on one secured path at a
// time. When the path dies the link looks for a new one (a resume); while
// the path is costlier than another strategy could give, it keeps trying
// that strategy (an upgrade); a connection whose grace is shorter than the
// link's is aborted on time.
//
// The Table owns its links, their goroutines and its own lock; it talks
// to the node through Host (planning and racing paths, the peer's
// address, reporting) and to the node's connections through Conn.
// ARCHITECTURE.md ("Peer links") describes resume, upgrade and grace.
package peerlink

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/strategy"
)

// Host is what the link table needs from its node.
type Host interface {
	// Plan ranks the strategies (in their order of preference) towards
	// peer from both addresses; strategy.ErrNotReady before the node
	// knows its own address.
	Plan(peer address.Address, strategies []string) ([]strategy.Step, error)
	// Race races steps towards peer and returns the winning path,
	// committed and secured (a TLS connection), and its strategy's name.
	Race(ctx context.Context, peer address.Address, steps []strategy.Step) (net.Conn, string, error)
	// AskAddress asks peer over signaling for its current address; known
	// is the address last learnt (zero when none).
	AskAddress(ctx context.Context, peer string, known address.Address) (address.Address, error)
	// Reprobe probes the NATs again: a path that died may mean our
	// address changed.
	Reprobe()
	// Accept is given each stream the peer opens on l.
	Accept(l *Link, s *session.Stream)
	// PathChanged is told of each change of a link's path, before the
	// link's connections are.
	PathChanged(l *Link, ev session.Event, p Path)
}

// Conn is a connection on a link: one of its streams, as the node keeps
// it.
type Conn interface {
	// Grace is how long the connection waits for a new path.
	Grace() time.Duration
	// Abort ends the connection with reason.
	Abort(reason string) error
	// PathChanged: the link's path changed.
	PathChanged()
	// StreamChanged: the stream's ends changed.
	StreamChanged()
}

// Config configures a Table. Zero fields take the session package's
// defaults, except Grace and Strategies.
type Config struct {
	// ID is our node ID: the side with the smaller ID leads a link.
	ID string
	// Host is the node. Required.
	Host Host
	// Strategies is the default order of strategies a link's connects
	// allow. Required.
	Strategies []string
	// Grace is how long a link waits for a new path by default.
	Grace time.Duration
	// MaxLinks bounds the links at once; a new one past it replaces the
	// link idle the longest, or is refused (ErrTooManyLinks). 0: no bound.
	MaxLinks int
	// IdleAfter closes a link that has carried no connection for this
	// long; 0: never.
	IdleAfter time.Duration
	// SendBuffer, StreamWindow, MaxStreams, AcceptBacklog and RecvBudget
	// bound each link (see session.Config); RecvBudget is shared by all.
	SendBuffer    int
	StreamWindow  int
	MaxStreams    int
	AcceptBacklog int
	RecvBudget    *session.Budget
	// Logger receives the links' logs; nil discards.
	Logger *slog.Logger
}

// Errors of Make.
var (
	// ErrClosing: the table (the node) is closing.
	ErrClosing = errors.New("the node is closing")
	// ErrTooManyLinks: the table holds MaxLinks links, none of them idle.
	ErrTooManyLinks = errors.New("too many peer links")
)

// Table is the node's peer links, by peer node ID.
type Table struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // ends with Close
	cancel context.CancelFunc

	mu    sync.Mutex // guards links; calls into a session link (Err) run under it
	links map[string]*Link

	// goMu guards closed and every wg.Add, and is taken last: a link's
	// path event, which runs under its session link's lock, starts its
	// goroutine through it. It must not be mu, which is held around calls
	// into session links: the two orders would deadlock.
	goMu   sync.Mutex
	closed bool
	wg     sync.WaitGroup // every goroutine of the table and its links
}

// New makes a table.
func New(cfg Config) (*Table, error) {
	if cfg.Host == nil || len(cfg.Strategies) == 0 {
		return nil, errors.New("peerlink: config: no host or no strategies")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Table{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, links: make(map[string]*Link)}, nil
}

// goOwned runs f on a goroutine Close waits for; false, running nothing,
// once Close has begun.
func (t *Table) goOwned(f func()) bool {
	t.goMu.Lock()
	defer t.goMu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Go(f)
	return true
}

func (t *Table) isClosed() bool {
	t.goMu.Lock()
	defer t.goMu.Unlock()
	return t.closed
}

// Get returns the live link with peer, or nil.
func (t *Table) Get(peer string) *Link {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.links[peer]; l != nil && l.link.Err() == nil {
		return l
	}
	return nil
}

// Links lists the live links.
func (t *Table) Links() []*Link {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Collect(maps.Values(t.links))
}

// Make returns the live link with peer, making one if there is none.
func (t *Table) Make(peer string) (*Link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.links[peer]; l != nil && l.link.Err() == nil {
		return l, nil
	}
	if t.isClosed() {
		return nil, ErrClosing
	}
	if t.cfg.MaxLinks > 0 && len(t.links) >= t.cfg.MaxLinks && !t.evictIdleLocked() {
		return nil, ErrTooManyLinks
	}
	l := &Link{t: t, peer: peer, metas: make(map[io.ReadWriteCloser]*pathMeta), conns: make(map[*session.Stream]Conn)}
	link, err := session.New(session.Config{
		SendBuffer:     t.cfg.SendBuffer,
		StreamWindow:   t.cfg.StreamWindow,
		Grace:          t.cfg.Grace,
		MaxStreams:     t.cfg.MaxStreams,
		AcceptBacklog:  t.cfg.AcceptBacklog,
		RecvBudget:     t.cfg.RecvBudget,
		OnEvent:        l.onEvent,
		OnStreamChange: l.streamChanged,
		Logger:         t.log.With("peer", peer),
	}, t.cfg.ID < peer)
	if err != nil {
		return nil, err
	}
	l.link = link
	if !t.goOwned(l.acceptLoop) {
		link.Close()
		return nil, ErrClosing
	}
	t.links[peer] = l
	l.idle(0) // until its first connection
	return l, nil
}

// evictIdleLocked closes the link idle the longest to make room; false
// when no link is idle. t.mu is held.
func (t *Table) evictIdleLocked() bool {
	var oldest *Link
	var since time.Time
	for _, l := range t.links {
		if at, idle := l.idleSince(); idle && (oldest == nil || at.Before(since)) {
			oldest, since = l, at
		}
	}
	if oldest == nil {
		return false
	}
	delete(t.links, oldest.peer)
	t.log.Info("peer link closed to make room for another", "peer", oldest.peer, "idle", time.Since(since).Round(time.Second))
	t.goOwned(func() { oldest.link.Close() }) // tells the peer
	return true
}

// drop forgets a failed link.
func (t *Table) drop(l *Link) {
	t.mu.Lock()
	if t.links[l.peer] == l {
		delete(t.links, l.peer)
	}
	t.mu.Unlock()
}

// Close closes every link, telling the peers, at once, and waits for the
// table's goroutines: no resume or upgrade runs once it returns.
func (t *Table) Close() {
	t.goMu.Lock()
	t.closed = true
	t.goMu.Unlock()
	t.mu.Lock()
	links := slices.Collect(maps.Values(t.links))
	t.mu.Unlock()
	t.cancel()
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Go(func() { l.link.Close() })
	}
	wg.Wait()
	t.wg.Wait()
}
